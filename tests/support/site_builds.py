"""Documentation builds nobody here wrote, copied at test time from Debian's packages (their
text is never committed): a Sphinx build (`python-django-doc`), a MkDocs build
(`mkdocs-doc`, MkDocs' own site) and AsciiDoc/DocBook HTML (`git-doc`).

Each builder copies a few folders of the installed build, as the team's build directory
would be, and returns it; `MissingPackage` says which package to install when it is not.
The selections are small enough to embed in seconds.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

DJANGO = Path("/usr/share/doc/python-django-doc/html")
MKDOCS = Path("/usr/share/doc/mkdocs/html")
GIT = Path("/usr/share/doc/git-doc")


class MissingPackage(RuntimeError):
    """The Debian package a build is copied from is not installed."""


@dataclass(frozen=True)
class SiteBuild:
    """One build directory and how it is published."""

    name: str
    root: Path
    site_url: str
    sitemap: Path | None = None


def _need(source: Path, package: str) -> None:
    if not source.is_dir():
        raise MissingPackage(f"{source} missing: apt-get install {package}")


def _copy(source: Path, dest: Path, paths: list[str]) -> None:
    for rel in paths:
        src = source / rel
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, target)
        else:
            shutil.copy2(src, target)


def django_build(dest: Path) -> SiteBuild:
    """Django 3.2's Sphinx build: home page, its generated index of terms, the FAQ, three
    intro pages and two topics."""
    _need(DJANGO, "python-django-doc")
    _copy(
        DJANGO,
        dest,
        [
            "index.html",
            "genindex.html",
            "faq",
            "intro/index.html",
            "intro/install.html",
            "intro/overview.html",
            "topics/db/index.html",
            "topics/db/managers.html",
            "topics/db/transactions.html",
        ],
    )
    return SiteBuild("django", dest, "https://docs.djangoproject.com/en/3.2/")


def mkdocs_build(dest: Path) -> SiteBuild:
    """MkDocs' own site (its default theme), with the `sitemap.xml` the build wrote."""
    _need(MKDOCS, "mkdocs-doc")
    _copy(
        MKDOCS,
        dest,
        [
            "index.html",
            "getting-started.html",
            "sitemap.xml",
            "user-guide/index.html",
            "user-guide/installation.html",
            "user-guide/deploying-your-docs.html",
            "user-guide/choosing-your-theme.html",
            "about/license.html",
            "dev-guide/index.html",
            "dev-guide/translations.html",
        ],
    )
    return SiteBuild("mkdocs", dest, "https://www.mkdocs.org/", sitemap=dest / "sitemap.xml")


def git_build(dest: Path) -> SiteBuild:
    """Git's AsciiDoc manual pages (a flat folder) and two of its `howto/` pages."""
    _need(GIT, "git-doc")
    _copy(
        GIT,
        dest,
        [
            "git-add.html",
            "git-stash.html",
            "git-bisect.html",
            "gitignore.html",
            "howto/revert-a-faulty-merge.html",
            "howto/separating-topic-branches.html",
        ],
    )
    return SiteBuild("git", dest, "https://git-scm.com/docs/")
