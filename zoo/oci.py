"""OCI registries as a hub: each artifact is a blob whose digest is its pinned sha256, pushed as an OCI 1.1 artifact
and fetched by digest through zoo's own downloader.

zoo speaks the distribution API directly (a blob HEAD, a monolithic upload, a manifest PUT, a token request) instead
of depending on oras-py: it is a handful of requests, and zoo must decide itself where credentials go. Conventions
(CNCF ModelPack where it fits): `artifactType` application/vnd.cncf.model.manifest.v1+json, a ModelPack config, the
model file as a raw weight layer, the zoo manifest and the model card as raw doc layers, each layer annotated with
its file name (`org.opencontainers.image.title`, which ORAS uses on pull, and ModelPack's `org.cncf.model.filepath`).
One tag per artifact, named after it: stable and readable.

Credentials: ZOO_REGISTRY_USERNAME / ZOO_REGISTRY_PASSWORD for the one registry ZOO_REGISTRY_HOST names, else
Docker's config.json (DOCKER_CONFIG, written by `docker login` or `oras login`; `auth` or `username`/`password`
entries, not credential helpers). They go to the registry's own scheme, host and port, and to a token service its
challenge names on the same host over https; never over plain http when the registry is https, never elsewhere.
Everything a registry or token service answers is untrusted: bodies are size-capped, and a bad answer is one failed
source, never a traceback.
"""

from __future__ import annotations

import base64
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urljoin, urlsplit

from zoo import settings
from zoo.errors import DownloadError, ZooError, shown
from zoo.hashes import sha256_of
from zoo.sources import Oci

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
ARTIFACT_TYPE = "application/vnd.cncf.model.manifest.v1+json"
CONFIG_TYPE = "application/vnd.cncf.model.config.v1+json"
WEIGHT_TYPE = "application/vnd.cncf.model.weight.v1.raw"
DOC_TYPE = "application/vnd.cncf.model.doc.v1.raw"
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')
LOGIN_HINT = ("log in with `docker login {registry}` or `oras login {registry}`, or set ZOO_REGISTRY_HOST={registry}, "
              "ZOO_REGISTRY_USERNAME and ZOO_REGISTRY_PASSWORD")
MAX_TOKEN_BYTES = 64 * 1024


def base_url(registry: str) -> str:
    """https, except for a registry on a loopback address (as Docker does) or one named in ZOO_OCI_INSECURE."""
    from zoo.download import loopback

    host = urlsplit(f"//{registry}").hostname or registry
    plain = loopback(host) or registry in settings.oci_insecure() or host in settings.oci_insecure()
    return f"{'http' if plain else 'https'}://{registry}"


def credentials(registry: str) -> tuple[str, str] | None:
    """(username, password) for `registry`: the environment's (for ZOO_REGISTRY_HOST only), then Docker's config.json.
    A config.json zoo cannot read is no credentials, never an error."""
    found = settings.registry_login(registry)
    if found:
        return found
    path = Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker") / "config.json"
    try:
        auths = json.loads(path.read_bytes()[:1 << 20]).get("auths", {})
    except (OSError, ValueError, AttributeError, RecursionError):
        return None
    if not isinstance(auths, dict):
        return None
    entry = next((v for k, v in auths.items() if str(k).removeprefix("https://").removeprefix("http://").rstrip("/") == registry), None)
    if not isinstance(entry, dict):
        return None
    if entry.get("auth"):
        try:
            user, _, password = base64.b64decode(str(entry["auth"])).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return (user, password) if user else None
    user, password = entry.get("username"), entry.get("password")
    return (user, password) if isinstance(user, str) and isinstance(password, str) and user and password else None


class Client:
    """Requests to one repository of one registry, answering its auth challenge once when it asks."""

    def __init__(self, ref: Oci, actions: str = "pull", base: str | None = None):
        from zoo import download

        self.ref, self.actions, self.base = ref, actions, base or base_url(ref.registry)
        self.http = download.session()
        self.auth: dict[str, str] = {}
        self.login: str | None = None  # whose credentials self.auth carries

    def request(self, method: str, path_or_url: str, **kwargs):
        """One request; credentials only to the registry's own scheme, host and port, and never from https to http."""
        import requests

        from zoo.download import origin

        url = urljoin(self.base, path_or_url)
        here, home = origin(url), origin(self.base)
        if home[0] == "https" and here[0] != "https":
            raise DownloadError(f"registry {self.ref.registry} sent zoo to {shown(url, 80)}, plain http; refused: nothing "
                                "is sent to a registry over http once it answered over https",
                                "its proxy or its configured URL (e.g. REGISTRY_HTTP_HOST) is probably wrong")
        same = here == home
        extra = kwargs.pop("headers", {})
        for attempt in (1, 2):
            try:
                r = self.http.request(method, url, headers={**extra, **(self.auth if same else {})},
                                      timeout=settings.timeouts(), allow_redirects=False, **kwargs)
            except requests.RequestException as e:
                raise DownloadError(f"registry {self.ref.registry} did not answer ({type(e).__name__})",
                                    "check the address, or whether it serves plain http (ZOO_OCI_INSECURE)") from None
            if r.status_code == 401 and same and self.login is not None and (attempt == 2 or "data" in kwargs):
                raise DownloadError(f"registry {self.ref.registry} rejected the credentials of {self.login}",
                                    LOGIN_HINT.format(registry=self.ref.registry))
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
            self.login = creds[0]
            return {"Authorization": "Basic " + base64.b64encode(":".join(creds).encode()).decode()}
        from zoo.download import followable, origin

        params = dict(_CHALLENGE.findall(challenge))
        realm = params.get("realm", "")
        if scheme != "bearer" or not followable(realm):
            raise DownloadError(f"registry {self.ref.registry} asks for an unsupported or insecure login ({shown(challenge, 80)})")
        if origin(realm)[1] != origin(self.base)[1]:
            creds = None  # a token service on another host gets no password; an anonymous token still serves public images
        query = {"service": params.get("service", ""), "scope": f"repository:{self.ref.repository}:{self.actions}"}
        token = self._token(f"{realm}?{urlencode(query)}", creds)
        self.login = creds[0] if creds else None
        return {"Authorization": f"Bearer {token}"}

    def _token(self, url: str, creds: tuple[str, str] | None) -> str:
        """The bearer token a token service hands out; any answer that is not one is a DownloadError (one failed source)."""
        import requests

        where = f"registry {self.ref.registry}'s token service"
        try:
            with self.http.get(url, auth=creds, timeout=settings.timeouts(), allow_redirects=False, stream=True) as r:
                if r.status_code in (401, 403) and creds:
                    raise DownloadError(f"{where} rejected the credentials of {creds[0]}", LOGIN_HINT.format(registry=self.ref.registry))
                if r.status_code != 200:
                    raise DownloadError(f"{where} refused (HTTP {r.status_code})", LOGIN_HINT.format(registry=self.ref.registry))
                body = r.raw.read(MAX_TOKEN_BYTES + 1, decode_content=True)
        except requests.RequestException as e:
            raise DownloadError(f"{where} did not answer ({type(e).__name__})") from None
        try:
            answer = json.loads(body) if len(body) <= MAX_TOKEN_BYTES else None
        except (ValueError, RecursionError):
            answer = None
        token = (answer.get("token") or answer.get("access_token")) if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token or any(c in token for c in "\r\n"):
            raise DownloadError(f"{where} answered something that is not a token (over {MAX_TOKEN_BYTES:,} bytes, not JSON, "
                                "or no token in it)")
        return token


def blob_request(ref: Oci, sha256: str) -> tuple[str, dict[str, str]]:
    """The URL and auth header zoo's downloader fetches the blob `sha256` of an oci:// source with."""
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
    return Layer(media_type, name, len(data), "sha256:" + sha256_of(data), data=data)


def push(ref: Oci, plan, progress, base: str | None = None) -> list[dict]:
    """Push each artifact of a verified publish plan as an OCI artifact tagged after it; blobs and manifests the
    registry already has are not sent again. Returns one entry per tag. `base`: the registry's URL when it is not
    base_url(ref.registry)."""
    client = Client(ref, "pull,push", base)
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
        digest = "sha256:" + sha256_of(manifest)
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


def _expect(r, codes: tuple[int, ...], what: str, ref: Oci) -> None:
    if r.status_code in codes:
        return
    if r.status_code in (401, 403):
        raise ZooError(f"registry {ref.registry} refused {what} (HTTP {r.status_code})", LOGIN_HINT.format(registry=ref.registry))
    raise ZooError(f"registry {ref.registry} answered HTTP {r.status_code} to {what}: {shown(r.text[:200], 200)}")
