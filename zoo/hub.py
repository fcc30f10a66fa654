"""hf:// sources: `hf://owner/repo@revision/path`, resolved through huggingface_hub pinned to that revision."""

from __future__ import annotations

from zoo import settings
from zoo.sources import Hub


def hf_request(ref: Hub) -> tuple[str, dict[str, str]]:
    """The download URL and auth header of an hf:// source.

    The token comes from HF_TOKEN or `hf auth login` (huggingface_hub.get_token) and is never logged.
    build_hf_headers is avoided on purpose: it may call the Hub for telemetry, and a fetch makes no
    request but the file's.
    """
    from huggingface_hub import get_token, hf_hub_url

    url = hf_hub_url(ref.repo, ref.path, revision=ref.revision, endpoint=settings.hf_endpoint())
    token = get_token()
    return url, ({"authorization": f"Bearer {token}"} if token else {})


def push(repo: str, uploads, message: str, private: bool = False, revision: str | None = None) -> str:
    """Create the repo if needed and upload everything in one commit; returns the commit sha.

    huggingface_hub drops files whose content is already there and makes no empty commit, so publishing
    the same content again returns the current head.
    """
    from huggingface_hub import CommitOperationAdd, HfApi

    api = HfApi(endpoint=settings.hf_endpoint(), library_name="zoo")
    api.create_repo(repo, private=private, exist_ok=True)
    if revision:
        api.create_branch(repo, branch=revision, exist_ok=True)
    operations = [CommitOperationAdd(u.path_in_repo, u.data if u.data is not None else str(u.local)) for u in uploads]
    return api.create_commit(repo, operations, commit_message=message, revision=revision).oid
