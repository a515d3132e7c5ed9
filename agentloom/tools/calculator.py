"""``calculator``: safe arithmetic over a parsed AST — never ``eval`` — with bounded work.

Only numbers, + - * / // % **, unary signs, parentheses, a whitelist of math functions and the
constants ``pi`` and ``e`` are accepted. Integer results are capped in size and exponents are
checked before they are computed, so no input can make the tool run for long or eat memory.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

from agentloom.tools.base import CachePolicy, tool

__all__ = ["calculator", "evaluate", "MAX_EXPRESSION_CHARS", "MAX_INT_BITS"]

#: Longest expression accepted, in characters.
MAX_EXPRESSION_CHARS = 1000
#: Most AST nodes in one expression.
MAX_NODES = 400
#: Largest integer magnitude, in bits (about 1,233 decimal digits).
MAX_INT_BITS = 4096
#: Largest float magnitude kept as a finite result.
MAX_FLOAT = 1e300

Number = int | float

_BINOPS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_OP_SYMBOLS: dict[type[ast.AST], str] = {
    ast.BitXor: "^ (use ** for powers)",
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.MatMult: "@",
    ast.Invert: "~",
    ast.Not: "not",
}


def _log(x: Number, base: Number | None = None) -> float:
    return math.log(x) if base is None else math.log(x, base)


def _round(x: Number, ndigits: int | None = None) -> Number:
    if ndigits is None:
        return round(x)
    if isinstance(ndigits, bool) or not isinstance(ndigits, int) or not -400 <= ndigits <= 400:
        raise ValueError("round(x, n): n must be a whole number between -400 and 400")
    return round(x, ndigits)


def _minmax(fn: Callable[..., Number], name: str) -> Callable[..., Number]:
    def call(*args: Number) -> Number:
        if not args:
            raise ValueError(f"{name}() needs at least one argument")
        return fn(args)

    return call


#: name -> (function, smallest and largest number of arguments)
_FUNCTIONS: dict[str, tuple[Callable[..., Number], int, int]] = {
    "sqrt": (math.sqrt, 1, 1),
    "log": (_log, 1, 2),
    "exp": (math.exp, 1, 1),
    "sin": (math.sin, 1, 1),
    "cos": (math.cos, 1, 1),
    "tan": (math.tan, 1, 1),
    "abs": (abs, 1, 1),
    "round": (_round, 1, 2),
    "min": (_minmax(min, "min"), 1, 64),
    "max": (_minmax(max, "max"), 1, 64),
    "floor": (math.floor, 1, 1),
    "ceil": (math.ceil, 1, 1),
}
_CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}

#: Typographic characters models and people paste, mapped to what the grammar accepts.
_TRANSLATE = str.maketrans({"×": "*", "÷": "/", "−": "-", "–": "-", "·": "*", "\u00a0": " "})


def _check(value: Any) -> Number:
    """Keep results real, finite and of bounded size."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        if value.bit_length() > MAX_INT_BITS:
            raise ValueError(f"result is too large (more than {MAX_INT_BITS} bits)")
        return value
    if isinstance(value, float):
        if math.isnan(value):
            raise ValueError("result is not a number (NaN)")
        if math.isinf(value) or abs(value) > MAX_FLOAT:
            raise ValueError(f"result is too large (magnitude above {MAX_FLOAT:g})")
        return value
    if isinstance(value, complex):
        raise ValueError("result is not a real number")
    raise ValueError(f"unsupported value {value!r}")


def _short(value: Number) -> str:
    text = repr(value)
    return text if len(text) <= 24 else f"{text[:10]}...{text[-6:]} ({len(text)} digits)"


def _power(base: Number, exponent: Number) -> Number:
    """``base ** exponent``, refusing integer powers whose result would exceed the size cap
    before computing them (float powers overflow quickly on their own)."""
    big = isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1
    if big and math.log2(abs(base)) * exponent > MAX_INT_BITS + 1:
        raise ValueError(f"{_short(base)} ** {_short(exponent)} is too large (more than {MAX_INT_BITS} bits)")
    if base < 0 and not float(exponent).is_integer():
        raise ValueError("a negative number to a fractional power is not a real number")
    if base == 0 and exponent < 0:
        raise ValueError("zero cannot be raised to a negative power (division by zero)")
    return _BINOPS[ast.Pow](base, exponent)


def _binop(op: ast.operator, left: Number, right: Number) -> Number:
    kind = type(op)
    if kind not in _BINOPS:
        raise ValueError(f"operator {_OP_SYMBOLS.get(kind, kind.__name__)} is not supported")
    if kind is ast.Pow:
        return _power(left, right)
    if (
        kind is ast.Mult
        and isinstance(left, int)
        and isinstance(right, int)
        and left.bit_length() + right.bit_length() > MAX_INT_BITS + 1
    ):
        raise ValueError(f"result is too large (more than {MAX_INT_BITS} bits)")
    if kind in (ast.Div, ast.FloorDiv, ast.Mod) and right == 0:
        raise ValueError("division by zero")
    return _BINOPS[kind](left, right)


class _Evaluator:
    """Walks the AST of one expression, allowing only the whitelisted node types."""

    def __init__(self) -> None:
        self.nodes = 0

    def eval(self, node: ast.AST) -> Number:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise ValueError(f"expression is too complex (more than {MAX_NODES} parts)")
        if isinstance(node, ast.Expression):
            return self.eval(node.body)
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{value!r} is not a number")
            return _check(value)
        if isinstance(node, ast.UnaryOp):
            operand = self.eval(node.operand)
            if isinstance(node.op, ast.USub):
                return _check(-operand)
            if isinstance(node.op, ast.UAdd):
                return _check(+operand)
            raise ValueError(f"operator {_OP_SYMBOLS.get(type(node.op), type(node.op).__name__)} is not supported")
        if isinstance(node, ast.BinOp):
            left = self.eval(node.left)
            right = self.eval(node.right)
            return _check(_binop(node.op, left, right))
        if isinstance(node, ast.Name):
            if node.id in _CONSTANTS:
                return _CONSTANTS[node.id]
            if node.id in _FUNCTIONS:
                raise ValueError(f"{node.id} is a function; call it like {node.id}(x)")
            raise ValueError(f"unknown name '{node.id}'; known constants: {', '.join(_CONSTANTS)}")
        if isinstance(node, ast.Call):
            return self._call(node)
        if isinstance(node, ast.Tuple):
            raise ValueError("unexpected comma; write numbers without thousands separators (1000, not 1,000)")
        raise ValueError(f"{type(node).__name__.lower()} expressions are not supported; use numbers, + - * / // % ** and math functions")

    def _call(self, node: ast.Call) -> Number:
        if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS:
            shown = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
            raise ValueError(f"unknown function '{shown}'; available: {', '.join(sorted(_FUNCTIONS))}")
        if node.keywords:
            raise ValueError(f"{node.func.id}() takes no keyword arguments")
        name = node.func.id
        fn, least, most = _FUNCTIONS[name]
        if not least <= len(node.args) <= most:
            wanted = str(least) if least == most else f"{least} to {most}"
            raise ValueError(f"{name}() takes {wanted} argument(s), got {len(node.args)}")
        if any(isinstance(a, ast.Starred) for a in node.args):
            raise ValueError(f"{name}() does not accept *arguments")
        args = [self.eval(a) for a in node.args]
        try:
            return _check(fn(*args))
        except OverflowError:
            raise ValueError(f"{name}() result is too large") from None
        except ValueError as exc:
            if "domain" in str(exc) or "positive input" in str(exc):
                shown = ", ".join(repr(a) for a in args)
                raise ValueError(f"{name}({shown}) is undefined (math domain error)") from None
            raise


def evaluate(expression: str) -> Number:
    """The value of an arithmetic expression, or ``ValueError`` saying what is wrong with it."""
    if not isinstance(expression, str):
        raise ValueError("the expression must be a string")
    text = expression.translate(_TRANSLATE).strip()
    if text.endswith("="):
        text = text[:-1].rstrip()
    if not text:
        raise ValueError("the expression is empty")
    if len(text) > MAX_EXPRESSION_CHARS:
        raise ValueError(f"the expression is too long ({len(text)} characters; at most {MAX_EXPRESSION_CHARS})")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        where = f" at column {exc.offset}" if exc.offset else ""
        raise ValueError(f"cannot parse {text!r}{where}: {exc.msg}") from None
    except (RecursionError, MemoryError):
        raise ValueError("the expression is nested too deeply") from None
    try:
        return _Evaluator().eval(tree)
    except RecursionError:
        raise ValueError("the expression is nested too deeply") from None
    except OverflowError:
        raise ValueError("the result is too large") from None
    except ZeroDivisionError:
        raise ValueError("division by zero") from None


@tool(timeout=5.0, cache=CachePolicy())
def calculator(expression: str) -> dict[str, Any]:
    """Evaluate an arithmetic expression exactly and safely; use it for any calculation.

    Supports numbers, + - * / // % ** and parentheses, the functions sqrt, log (natural, or
    log(x, base)), exp, sin, cos, tan, abs, round, min, max, floor, ceil, and the constants pi and e.

    Args:
        expression: The arithmetic to evaluate, e.g. "(3.5 + 4) * 2 ** 10" or "sqrt(2) * pi".
    """
    return {"expression": expression, "value": evaluate(expression)}
