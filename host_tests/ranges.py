"""Fail a CPython test the moment device code leaves the ESP32's small-int range.

On the ESP32 an int outside -2**30 .. 2**30-1 is a heap object: it allocates
(a MemoryError inside the locked control step) and is slow. The unix port's
ints are 63 bits wide, so its heap_lock tests cannot see this. Here we run the
device module on CPython with every arithmetic result checked.

`load("controller")` returns a fresh copy of `lib/control/controller.py` whose syntax
tree was rewritten so that every binary and unary operation, every call
result, every augmented assignment and every integer literal passes through a
check. That is the "int subclass" idea made total: a subclass loses its type
as soon as a value goes through an `array`, `int.from_bytes` or a struct,
while the rewritten code is checked whatever its operands came from. A float
result fails too, because the device path must be float-free.

The error names the file, line and expression, e.g.
`RangeError: decode.py:41 'mantissa << exponent' = 2199023255552 is outside the ESP32 small-int range`.
Only the loaded modules are checked, not what they call in compat or the standard library.
"""

import ast
import importlib.util
import sys
import types

SMALL_INT_MIN = -(1 << 30)
SMALL_INT_MAX = (1 << 30) - 1
_CHECK = "__range_check__"


class RangeError(AssertionError):
    pass


def check(value, where):
    kind = type(value)
    if kind is float:
        raise RangeError("%s = %r is a float: the device path must be float-free" % (where, value))
    if kind is not bool and isinstance(value, int) and not SMALL_INT_MIN <= value <= SMALL_INT_MAX:
        raise RangeError("%s = %d is outside the ESP32 small-int range (+-2**30)" % (where, value))
    return value


class _Instrument(ast.NodeTransformer):
    def __init__(self, filename):
        self.filename = filename

    def _checked(self, node, checked_value=None):
        """`node` with its children instrumented, wrapped in a check named after its source."""
        where = "%s:%d %r" % (self.filename, node.lineno, ast.unparse(node)[:80])
        value = self.generic_visit(node) if checked_value is None else checked_value
        call = ast.Call(ast.Name(_CHECK, ast.Load()), [value, ast.Constant(where)], [])
        return ast.copy_location(call, node)

    def visit_BinOp(self, node):
        return self._checked(node)

    def visit_UnaryOp(self, node):
        if isinstance(node.op, ast.Not):
            return self.generic_visit(node)
        return self._checked(node)

    def visit_Call(self, node):
        return self._checked(node)

    def visit_Constant(self, node):
        if type(node.value) in (int, float):
            return self._checked(node, node)
        return node

    def visit_AugAssign(self, node):
        source = ast.parse(ast.unparse(node), mode="exec").body[0]
        node = self.generic_visit(node)
        result = ast.parse(ast.unparse(node.target), mode="eval").body
        after = ast.Expr(self._checked(ast.copy_location(source, node), result))
        return [node, ast.copy_location(after, node)]

    def visit_JoinedStr(self, node):
        return node  # f-strings are for messages, not arithmetic


def _compile(path):
    source = open(path).read()
    tree = _Instrument(path.rsplit("/", 1)[-1]).visit(ast.parse(source, path))
    return compile(ast.fix_missing_locations(tree), path, "exec")


def load_file(path, name=None):
    """An instrumented module from a source file."""
    name = name or path.rsplit("/", 1)[-1][:-3]
    module = types.ModuleType(name)
    module.__file__ = path
    module.__dict__[_CHECK] = check
    exec(_compile(path), module.__dict__)
    return module


def load(name, *dependencies):
    """Instrumented fresh copies of `dependencies` then `name`, found on sys.path.

    While they load, the instrumented dependencies stand in sys.modules, so
    `name` imports the checked copies; sys.modules is restored afterwards.
    """
    saved = {key: sys.modules.get(key) for key in (*dependencies, name)}
    try:
        for module_name in (*dependencies, name):
            spec = importlib.util.find_spec(module_name)
            if spec is None or not spec.origin:
                raise ImportError("no source for module %r" % module_name)
            sys.modules[module_name] = load_file(spec.origin, module_name)
        return sys.modules[name]
    finally:
        for key, module in saved.items():
            if module is None:
                sys.modules.pop(key, None)
            else:
                sys.modules[key] = module
