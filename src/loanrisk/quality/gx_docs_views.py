"""Data Docs views whose Jinja templates are compiled once, not at every build, and whose pages
do not send GX the data context's id.

GX makes a Jinja environment per site section at each ``build_data_docs`` and compiles the
templates it renders with again, a good part of a small day's build. These views are
GX's own, named in the site's config (GX's extension point for views), with Jinja's bytecode
cache in a folder of the GX context: Jinja checks each template's source against its cached
code, so a GX upgrade cannot render from stale templates.

GX's navigation bar loads its logo from GX's S3 bucket, the URL carrying the data context's id
and the time of rendering: the id sent out of the bank each time a page is opened, and pages in
other bytes at every build. These views take the logo from the site's own ``static/images``
(``SiteImages``) with no such parameters (``untracked``). GX's pages still load Bootstrap,
jQuery and Vega from public CDNs (and its stylesheet a background from the same bucket, with no
parameters): viewing them needs those sites, as GX designed them.
"""

from __future__ import annotations

from pathlib import Path

import jinja2
from great_expectations.render.view import DefaultJinjaIndexPageView, DefaultJinjaPageView


class _CompiledOnce:
    def __init__(
        self,
        template_cache: str,
        custom_styles_directory: str | None = None,
        custom_views_directory: str | None = None,
    ) -> None:
        super().__init__(custom_styles_directory, custom_views_directory)  # type: ignore[call-arg]
        Path(template_cache).mkdir(parents=True, exist_ok=True)
        self.env.bytecode_cache = jinja2.FileSystemBytecodeCache(template_cache)  # type: ignore[attr-defined]
        self.env.loader = SiteImages(self.env.loader)  # type: ignore[attr-defined]
        self.env.filters["add_data_context_id_to_url"] = untracked  # type: ignore[attr-defined]


def untracked(url: str, *_: object) -> str:
    """The URL as it is (GX's filter adds the data context's id and the time of rendering)."""
    return url


class SiteImages(jinja2.BaseLoader):
    """GX's templates, its navigation bar taking the logo from the site's ``static/images``
    (where GX's other pages already take their images) instead of GX's S3 bucket."""

    NAVBAR = "top_navbar.j2"
    REMOTE = (
        '{% set static_images_dir = "https://great-expectations-web-assets.s3.us-east-2'
        '.amazonaws.com/" -%}'
    )
    # The other page kinds set their relative static_images_dir just before.
    INDEX = '{% if "SiteIndex" in renderer_type %}{% set static_images_dir = "static/images/" %}'
    INDEX += "{% endif %}"

    def __init__(self, gx_loader: jinja2.BaseLoader) -> None:
        self.gx_loader = gx_loader

    def get_source(self, environment: jinja2.Environment, template: str):
        source, filename, uptodate = self.gx_loader.get_source(environment, template)
        if template == self.NAVBAR:
            source = source.replace(self.REMOTE, self.INDEX)
        return source, filename, uptodate


class PageView(_CompiledOnce, DefaultJinjaPageView):
    """GX's page view (validation results, expectation suites)."""


class IndexPageView(_CompiledOnce, DefaultJinjaIndexPageView):
    """GX's index page view."""


def site_config(docs_dir: Path, template_cache: Path, index_results: int) -> dict:
    """The Data Docs site's config: GX's builders with these views; the index lists the latest
    ``index_results`` validation results."""
    pages = {"view": view(PageView, template_cache)}
    return {
        "class_name": "SiteBuilder",
        "store_backend": {
            "class_name": "TupleFilesystemStoreBackend",
            "base_directory": str(docs_dir),
        },
        "site_index_builder": {
            "class_name": "DefaultSiteIndexBuilder",
            "validation_results_limit": index_results,
            "view": view(IndexPageView, template_cache),
        },
        "site_section_builders": {"expectations": pages, "validations": pages},
    }


def view(kind: type, template_cache: Path) -> dict:
    """A site config's ``view`` entry for ``kind`` (``PageView`` or ``IndexPageView``)."""
    return {
        "module_name": __name__,
        "class_name": kind.__name__,
        "template_cache": str(template_cache),
    }
