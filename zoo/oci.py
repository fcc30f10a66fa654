"""OCI registries as a hub: each artifact is a blob whose digest is its pinned sha256, pushed as an OCI 1.1 artifact
and fetched by digest through zoo's own downloader.

zoo speaks the distribution API directly (a blob HEAD, a monolithic upload, a manifest PUT, a token request) instead
of depending on oras-py: it is a handful of requests, and zoo must decide itself where credentials go. Conventions
(CNCF ModelPack where it fits): `artifactType` application/vnd.cncf.model.manifest.v1+json, a ModelPack config, the
model file as a raw weight layer, the zoo manifest and the model card as raw doc layers, each layer annotated with
its file name (`org.opencontainers.image.title`, which ORAS uses on pull, and ModelPack's `org.cncf.model.filepath`).
One tag per artifact, named after it: stable and readable.

Credentials: ZOO_REGISTRY_USERNAME / ZOO_REGISTRY_PASSWORD, else Docker's config.json (DOCKER_CONFIG, written by
`docker login` or `oras login`; `auth` or `username`/`password` entries, not credential helpers). They go to the
registry and to the token service its challenge names (https only), never anywhere else.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urljoin, urlsplit

from zoo import settings
from zoo.errors import DownloadError, ZooError, shown

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
ARTIFACT_TYPE = "application/vnd.cncf.model.manifest.v1+json"
CONFIG_TYPE = "application/vnd.cncf.model.config.v1+json"
WEIGHT_TYPE = "application/vnd.cncf.model.weight.v1.raw"
DOC_TYPE = "application/vnd.cncf.model.doc.v1.raw"
_REPOSITORY = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*")
_REGISTRY = re.compile(r"(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9a-fA-F:]+\])(?::\d{1,5})?")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')
LOGIN_HINT = "log in with `docker login {registry}` or `oras login {registry}`, or set ZOO_REGISTRY_USERNAME and ZOO_REGISTRY_PASSWORD"


@dataclass(frozen=True)
class Reference:
    registry: str
    repository: str
    tag: str | None = None

    @property
    def source(self) -> str:
        return f"oci://{self.registry}/{self.repository}"


def parse(text: str) -> Reference:
    """REGISTRY/REPOSITORY[:TAG] or oci://REGISTRY/REPOSITORY, validated by the distribution spec's grammar."""
    rest = text.removeprefix("oci://")
    registry, _, path = rest.partition("/")
    repository, tag = path, None
    if ":" in path.rsplit("/", 1)[-1]:
        repository, tag = path.rsplit(":", 1)
    if not (_REGISTRY.fullmatch(registry) and _REPOSITORY.fullmatch(repository) and (tag is None or _TAG.fullmatch(tag))):
        raise ValueError(f"{shown(text)} is not REGISTRY/REPOSITORY[:TAG] (lowercase repository path, e.g. "
                         "ghcr.io/acme/zoo/deeplabv3 or 127.0.0.1:5000/zoo/deeplabv3)")
    return Reference(registry, repository, tag)


def base_url(registry: str) -> str:
    """https, except for a registry on a loopback address (as Docker does) or one named in ZOO_OCI_INSECURE."""
    from zoo.download import loopback

    host = urlsplit(f"//{registry}").hostname or registry
    plain = loopback(host) or registry in settings.oci_insecure() or host in settings.oci_insecure()
    return f"{'http' if plain else 'https'}://{registry}"


def credentials(registry: str) -> tuple[str, str] | None:
    """(username, password) for `registry`: the environment first, then Docker's config.json."""
    user, password = os.environ.get("ZOO_REGISTRY_USERNAME"), os.environ.get("ZOO_REGISTRY_PASSWORD")
    if user and password:
        return user, password
    path = Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker") / "config.json"
    try:
        auths = json.loads(path.read_text()).get("auths", {})
    except (OSError, ValueError, AttributeError):
        return None
    entry = next((v for k, v in auths.items() if k.removeprefix("https://").removeprefix("http://").rstrip("/") == registry), None)
    if not isinstance(entry, dict):
        return None
    if entry.get("auth"):
        try:
            user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return (user, password) if user else None
    return (entry["username"], entry["password"]) if entry.get("username") and entry.get("password") else None


class Client:
    """Requests to one repository of one registry, answering its auth challenge once when it asks."""

    def __init__(self, ref: Reference, actions: str = "pull"):
        from zoo import download

        self.ref, self.actions, self.base = ref, actions, base_url(ref.registry)
        self.http = download.session()
        self.auth: dict[str, str] = {}

    def request(self, method: str, path_or_url: str, **kwargs):
        import requests

        url = urljoin(self.base, path_or_url)
        same = urlsplit(url).netloc == urlsplit(self.base).netloc
        extra = kwargs.pop("headers", {})
        for attempt in (1, 2):
            try:
                r = self.http.request(method, url, headers={**extra, **(self.auth if same else {})},
                                      timeout=settings.timeouts(), allow_redirects=False, **kwargs)
            except requests.RequestException as e:
                raise DownloadError(f"registry {self.ref.registry} did not answer ({type(e).__name__})",
                                    "check the address, or whether it serves plain http (ZOO_OCI_INSECURE)") from None
            # A body is sent once: uploads come after a HEAD that already answered the challenge.
            if r.status_code != 401 or attempt == 2 or not same or "data" in kwargs:
                return r
            self.auth = self._authenticate(r.headers.get("WWW-Authenticate", ""))

    def _authenticate(self, challenge: str) -> dict[str, str]:
        creds = credentials(self.ref.registry)
        scheme = challenge.split(" ", 1)[0].lower()
        if scheme == "basic":
            if creds is None:
                raise DownloadError(f"registry {self.ref.registry} needs a login", LOGIN_HINT.format(registry=self.ref.registry))
            return {"Authorization": "Basic " + base64.b64encode(":".join(creds).encode()).decode()}
        from zoo.download import followable

        params = dict(_CHALLENGE.findall(challenge))
        realm = params.get("realm", "")
        if scheme != "bearer" or not followable(realm):
            raise DownloadError(f"registry {self.ref.registry} asks for an unsupported or insecure login ({shown(challenge, 80)})")
        query = {"service": params.get("service", ""), "scope": f"repository:{self.ref.repository}:{self.actions}"}
        r = self.http.get(f"{realm}?{urlencode(query)}", auth=creds, timeout=settings.timeouts(), allow_redirects=False)
        if r.status_code != 200:
            raise DownloadError(f"registry {self.ref.registry}'s token service refused (HTTP {r.status_code})",
                                LOGIN_HINT.format(registry=self.ref.registry))
        answer = r.json()
        token = answer.get("token") or answer.get("access_token")
        return {"Authorization": f"Bearer {token}"}


def blob_request(source: str, sha256: str) -> tuple[str, dict[str, str]]:
    """The URL and auth header zoo's downloader fetches the blob `sha256` of an oci:// source with."""
    ref = parse(source)
    client = Client(ref)
    path = f"/v2/{ref.repository}/blobs/sha256:{sha256}"
    r = client.request("HEAD", path)
    if r.status_code in (401, 403):
        raise DownloadError(f"registry {ref.registry} refused access to {ref.repository} (HTTP {r.status_code})",
                            LOGIN_HINT.format(registry=ref.registry))
    if r.status_code == 404:
        raise DownloadError(f"registry {ref.registry} has no blob sha256:{sha256} in {ref.repository}")
    return urljoin(client.base, path), client.auth


@dataclass(frozen=True)
class Layer:
    media_type: str
    name: str
    size: int
    digest: str
    path: Path | None = None
    data: bytes | None = None

    def descriptor(self) -> dict:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size,
                "annotations": {"org.opencontainers.image.title": self.name, "org.cncf.model.filepath": self.name}}


def _bytes(media_type: str, name: str, data: bytes) -> Layer:
    return Layer(media_type, name, len(data), "sha256:" + hashlib.sha256(data).hexdigest(), data=data)


def push(ref: Reference, plan, progress) -> list[dict]:
    """Push each artifact of a verified publish plan as an OCI artifact tagged after it; blobs and manifests the
    registry already has are not sent again. Returns one entry per tag."""
    client = Client(ref, "pull,push")
    m = plan.manifest
    docs = [_bytes(DOC_TYPE, u.path_in_repo.rsplit("/", 1)[-1], u.data) for u in plan.uploads
            if u.artifact is None and u.path_in_repo in ("README.md", f"zoo/{m.name}.yaml")]
    results = []
    for u in (u for u in plan.uploads if u.artifact):
        a = m.artifact(u.artifact)
        weight = Layer(WEIGHT_TYPE, u.path_in_repo, u.size, f"sha256:{u.sha256}", path=u.local, data=u.data)
        config = _bytes(CONFIG_TYPE, "config.json", json.dumps({
            "descriptor": {"name": m.name, "family": m.family, "licenses": [m.license], "docURL": m.homepage,
                           "description": m.description},
            "config": {"format": a.format, "precision": a.precision, "target": a.target},
            "modelfs": {"type": "layers", "diffIds": [weight.digest, *(d.digest for d in docs)]},
        }, sort_keys=True).encode())
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": MANIFEST_TYPE, "artifactType": ARTIFACT_TYPE,
            "config": {"mediaType": CONFIG_TYPE, "digest": config.digest, "size": config.size},
            "layers": [weight.descriptor(), *(d.descriptor() for d in docs)],
            "annotations": {"org.opencontainers.image.title": f"{m.name} {a.id}", "org.cncf.model.name": m.name},
        }, sort_keys=True).encode()
        pushed = [layer.name for layer in (weight, config, *docs) if _upload(client, layer, progress)]
        tag = f"{ref.tag}-{a.id}" if ref.tag else a.id
        digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
        head = client.request("HEAD", f"/v2/{ref.repository}/manifests/{tag}", headers={"Accept": MANIFEST_TYPE})
        if head.headers.get("Docker-Content-Digest") != digest:
            r = client.request("PUT", f"/v2/{ref.repository}/manifests/{tag}", data=manifest,
                               headers={"Content-Type": MANIFEST_TYPE})
            _expect(r, (201,), f"the manifest of {tag}", ref)
            pushed.append(f"manifest:{tag}")
        results.append({"artifact": a.id, "tag": tag, "digest": digest, "blob": weight.digest, "pushed": pushed,
                        "reference": f"{ref.registry}/{ref.repository}:{tag}"})
    return results


def _upload(client: Client, layer: Layer, progress) -> bool:
    """Send one blob unless the registry has it; True if it was sent."""
    repo = client.ref.repository
    r = client.request("HEAD", f"/v2/{repo}/blobs/{layer.digest}")
    if r.status_code == 200:
        return False
    _expect(r, (404,), f"a check for {layer.name}", client.ref)
    start = client.request("POST", f"/v2/{repo}/blobs/uploads/")
    _expect(start, (202,), f"starting the upload of {layer.name}", client.ref)
    location = start.headers["Location"]
    url = location + ("&" if "?" in location else "?") + urlencode({"digest": layer.digest})
    progress.note(f"pushing {layer.name} ({layer.size:,} B) to {client.ref.registry}/{repo}")
    body = layer.data if layer.data is not None else open(layer.path, "rb")
    try:
        r = client.request("PUT", url, data=body, headers={"Content-Type": "application/octet-stream",
                                                           "Content-Length": str(layer.size)})
    finally:
        if layer.data is None:
            body.close()
    _expect(r, (201,), f"the upload of {layer.name}", client.ref)
    return True


def _expect(r, codes: tuple[int, ...], what: str, ref: Reference) -> None:
    if r.status_code in codes:
        return
    if r.status_code in (401, 403):
        raise ZooError(f"registry {ref.registry} refused {what} (HTTP {r.status_code})", LOGIN_HINT.format(registry=ref.registry))
    raise ZooError(f"registry {ref.registry} answered HTTP {r.status_code} to {what}: {shown(r.text[:200], 200)}")
