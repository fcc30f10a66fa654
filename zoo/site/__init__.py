"""The static catalog (`zoo site -o DIR`): an index page and a page per model rendered with Jinja2 from the
validated manifests, with JSON beside them for scripts; served from the same folder as a `zoo publish --to` mirror,
that folder is both a catalog people browse and a mirror `zoo fetch` reads."""

from zoo.site.build import Result, build

__all__ = ["Result", "build"]
