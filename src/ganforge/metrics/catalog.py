"""Every module that registers metrics or feature kinds. Importing this completes ``registry.METRICS`` and
``registry.FEATURES``; ``ganforge.metrics`` does so first thing. A new metric module is added here.

Registration order is the order metrics are listed in (help, error messages), hence the splits.
"""

import ganforge.metrics.standard  # noqa: F401 - FID, KID, IS, precision/recall

# isort: split
import ganforge.metrics.domain  # noqa: F401 - metrics from the domain classifier

# isort: split
import ganforge.metrics.evaluator  # noqa: F401 - the "domain" feature kind
import ganforge.metrics.inception  # noqa: F401 - the "inception" and "inception-logits" feature kinds
