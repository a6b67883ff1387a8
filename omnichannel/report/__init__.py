"""The demo's summary: figures from a replay's folders, printed on the terminal and as HTML.

`summarize` works the figures out; `print_summary` prints them with rich; `write_html` writes
one self-contained HTML report with a chart of the busiest SKUs' availability over the day.
"""

from omnichannel.report.console import print_summary
from omnichannel.report.html import write_html
from omnichannel.report.summary import DemoSummary, summarize

__all__ = ["DemoSummary", "print_summary", "summarize", "write_html"]
