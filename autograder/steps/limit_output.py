"""Step 4: bound what a cell can put in the results (print floods, giant reprs, huge images)."""

from __future__ import annotations

from nbformat import NotebookNode

_MAX_OUTPUTS = 50
_MAX_IMAGE_CHARS = 2_000_000


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return (
        text[:limit]
        + f"\n[... output truncated by the autograder: {len(text) - limit} more characters ...]\n"
    )


def limit_output(nb: NotebookNode, *, max_chars: int) -> NotebookNode:
    """Truncate each code cell's text outputs to ``max_chars`` and drop oversized images, in place.

    Returns:
        The same notebook.
    """
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        outputs = cell.outputs[:_MAX_OUTPUTS]
        budget = max_chars
        for output in outputs:
            if output.output_type == "stream":
                output.text = _cut(output.text, max(budget, 200))
                budget -= len(output.text)
            elif output.output_type in ("execute_result", "display_data"):
                for mime in list(output.data):
                    value = output.data[mime]
                    if mime.startswith("text/") and isinstance(value, str):
                        output.data[mime] = _cut(value, max(budget, 200))
                    elif isinstance(value, str) and len(value) > _MAX_IMAGE_CHARS:
                        del output.data[mime]
                if not output.data:
                    output.data["text/plain"] = "[output too large, removed by the autograder]"
            elif output.output_type == "error":
                output.traceback = [_cut(line, 5_000) for line in output.traceback[-30:]]
                output.evalue = _cut(output.evalue, 2_000)
        cell.outputs = outputs
    return nb
