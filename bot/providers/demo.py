"""A reply using every Markdown construct the doors render: what the offline echo provider
answers to `demo markdown`, so rendering can be tried and tested without a model."""

from __future__ import annotations

DEMO_MARKDOWN = """# Markdown, rendered

Some **bold**, some *italic*, some ~~struck~~ text, `inline code` and a
[link](https://example.org/docs?a=1&b=2).

## Lists

- a bullet with **bold** inside
- another, with `code`
  1. a numbered item under it
  2. and a second

1. first
2. second

> A quote: what someone said.

```python
def greet(name: str) -> str:
    return f"<b>{name}</b> & co"
```

| Language | Typing  | Year |
|----------|---------|-----:|
| Python   | dynamic | 1991 |
| Rust     | static  | 2010 |

---

Plain text with <b>tags</b>, a lone ` backtick, snake_case_names and 2 * 3 = 6."""
