"""Integer expressions over block parameters: `4 * $width`, `($c + $n * $growth) // 2`.

A tiny grammar of its own (integers, $parameters, + - * //, parentheses, unary minus);
nothing is ever handed to Python's eval.
"""
from __future__ import annotations

import re
from typing import Any, Callable

LIMIT = 2 ** 53          # beyond this an integer is surely a mistake (and loses float exactness)
_TOKEN = re.compile(r"\s*(?:(\d+)|\$([A-Za-z_][A-Za-z0-9_]*)|(//|[-+*()]))")


class ExprError(Exception):
    pass


def tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            bad = text[pos:].strip()[:1]
            raise ExprError(f"'{bad}' is not allowed in an expression (integers, $parameters, + - * // and parentheses)")
        number, name, op = m.groups()
        out.append(("int", number) if number else ("param", name) if name else ("op", op))
        pos = m.end()
    return out


def evaluate(text: str, lookup: Callable[[str], Any]) -> int:
    """Evaluate `text`; `lookup(name)` gives a parameter's value or raises ExprError."""
    parser = _Parser(tokens(text), lookup)
    value = parser.sum()
    if parser.peek() is not None:
        raise ExprError(f"unexpected '{parser.peek()[1]}' in expression")
    return value


class _Parser:
    def __init__(self, toks, lookup) -> None:
        self.toks, self.pos, self.lookup = toks, 0, lookup

    def peek(self):
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def take(self):
        tok = self.peek()
        if tok is None:
            raise ExprError("the expression ends too early")
        self.pos += 1
        return tok

    def sum(self) -> int:
        value = self.product()
        while self.peek() in (("op", "+"), ("op", "-")):
            op = self.take()[1]
            value = _checked(value + self.product() if op == "+" else value - self.product())
        return value

    def product(self) -> int:
        value = self.unary()
        while self.peek() in (("op", "*"), ("op", "//")):
            op = self.take()[1]
            right = self.unary()
            if op == "*":
                value = _checked(value * right)
            elif right == 0:
                raise ExprError("division by zero")
            else:
                value = value // right
        return value

    def unary(self) -> int:
        if self.peek() == ("op", "-"):
            self.take()
            return -self.unary()
        if self.peek() == ("op", "+"):
            self.take()
        return self.atom()

    def atom(self) -> int:
        kind, text = self.take()
        if kind == "int":
            return _checked(int(text))
        if kind == "param":
            value = self.lookup(text)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ExprError(f"${text} is {value!r}, not an integer, so it cannot be used in arithmetic")
            return value
        if text == "(":
            value = self.sum()
            if self.take() != ("op", ")"):
                raise ExprError("missing ')'")
            return value
        raise ExprError(f"unexpected '{text}' in expression")


def _checked(value: int) -> int:
    if abs(value) > LIMIT:
        raise ExprError(f"integer overflow: the value exceeds {LIMIT:,}")
    return value
