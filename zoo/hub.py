"""hf:// sources: `hf://owner/repo@revision/path`, resolved through huggingface_hub pinned to that revision."""

from __future__ import annotations

from zoo import settings
from zoo.manifest import parse_hf


def hf_request(source: str) -> tuple[str, dict[str, str]]:
    """The download URL and auth header of an hf:// source.

    The token comes from HF_TOKEN or `hf auth login` (huggingface_hub.get_token) and is never logged.
    build_hf_headers is avoided on purpose: it may call the Hub for telemetry, and a fetch makes no
    request but the file's.
    """
    from huggingface_hub import get_token, hf_hub_url

    repo, revision, path = parse_hf(source)
    url = hf_hub_url(repo, path, revision=revision, endpoint=settings.hf_endpoint())
    token = get_token()
    return url, ({"authorization": f"Bearer {token}"} if token else {})
