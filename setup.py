"""Package discovery, the one part of the build pyproject.toml cannot say.

spiders/ and data/ stay at the top of the repository but install under `monitor`, so that the
package claims no generic top-level import names. setuptools' `packages.find` cannot combine
discovered packages with remapped folders, and a hand-kept list once left out
monitor.crawl.pipelines and broke every installed crawl: so the packages under monitor/ are
found, and the remapped ones come from the one mapping below.
"""

from setuptools import find_packages, setup

REMAPPED = {"monitor.spiders": "spiders", "monitor.data": "data"}

setup(
    packages=find_packages(include=["monitor", "monitor.*"]) + list(REMAPPED),
    package_dir=REMAPPED,
    # Datasette's templates and stylesheet for `monitor serve` (monitor.report.datasette_site).
    package_data={"monitor.data": ["*.csv", "*.md"], "monitor.report": ["templates/*.html", "static/*.css"]},
)
