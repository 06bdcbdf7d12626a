"""Recursive-descent parser: tokens -> ``Program``, with bounded nesting and statement count.

Precedence (the docs give the operators but not their precedence; this is C's, which the
language's syntax borrows), lowest first: ``?:`` (right-assoc), ``||``, ``&&``, ``== !=``,
``< <= > >=``, ``+ -``, ``* /``, unary ``- !``, postfix ``.member`` / ``.Method(...)``.
"""

from __future__ import annotations

from batchflow.emulator.autoscale import syntax as s
from batchflow.emulator.autoscale.errors import syntax_error, too_many_statements
from batchflow.emulator.autoscale.lexer import Kind, Token

MAX_STATEMENTS = 100  # "can include up to 100 statements" (Batch autoscale docs)
MAX_NESTING = 48  # parentheses/unary/ternary/argument nesting; keeps recursion far from limits

_BINARY_LEVELS: tuple[frozenset[str], ...] = (
    frozenset({"||"}),
    frozenset({"&&"}),
    frozenset({"==", "!="}),
    frozenset({"<", "<=", ">", ">="}),
    frozenset({"+", "-"}),
    frozenset({"*", "/"}),
)


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self._tokens = tokens
        self._index = 0
        self._depth = 0

    # --- token helpers ----------------------------------------------------------------
    def _peek(self) -> Token:
        return self._tokens[self._index]

    def _next(self) -> Token:
        token = self._tokens[self._index]
        if token.kind is not Kind.END:
            self._index += 1
        return token

    def _at(self, text: str) -> bool:
        token = self._peek()
        return token.kind is Kind.OP and token.text == text

    def _expect(self, text: str) -> Token:
        token = self._peek()
        if not self._at(text):
            raise syntax_error(f"Expected '{text}' but found {_describe(token)}", token.position)
        return self._next()

    # --- statements -------------------------------------------------------------------
    def program(self) -> s.Program:
        statements: list[s.Statement] = []
        while self._peek().kind is not Kind.END:
            if self._at(";"):
                self._next()
                continue
            statement = self._statement()
            statements.append(statement)
            if len(statements) > MAX_STATEMENTS:
                raise too_many_statements(
                    f"A formula can have at most {MAX_STATEMENTS} statements",
                    statement.position,
                )
            if not self._at(";") and self._peek().kind is not Kind.END:
                token = self._peek()
                raise syntax_error(f"Expected ';' but found {_describe(token)}", token.position)
        return s.Program(tuple(statements))

    def _statement(self) -> s.Statement:
        token = self._peek()
        following = self._tokens[self._index + 1]
        if token.kind is Kind.NAME and following.kind is Kind.OP and following.text == "=":
            self._next()
            self._next()
            return s.Assign(token.text, self._expression(), token.position)
        return s.ExprStatement(self._expression(), token.position)

    # --- expressions ------------------------------------------------------------------
    def _expression(self) -> s.Expr:
        self._depth += 1
        if self._depth > MAX_NESTING:
            raise syntax_error("Expression is nested too deeply", self._peek().position)
        try:
            return self._ternary()
        finally:
            self._depth -= 1

    def _ternary(self) -> s.Expr:
        condition = self._binary(0)
        if not self._at("?"):
            return condition
        question = self._next()
        then = self._expression()
        self._expect(":")
        otherwise = self._expression()
        return s.Ternary(condition, then, otherwise, question.position)

    def _binary(self, level: int) -> s.Expr:
        if level == len(_BINARY_LEVELS):
            return self._unary()
        left = self._binary(level + 1)
        operators = _BINARY_LEVELS[level]
        while self._peek().kind is Kind.OP and self._peek().text in operators:
            op = self._next()
            right = self._binary(level + 1)
            left = s.Binary(op.text, left, right, op.position)
        return left

    def _unary(self) -> s.Expr:
        if self._at("-") or self._at("!"):
            op = self._next()
            self._depth += 1
            if self._depth > MAX_NESTING:
                raise syntax_error("Expression is nested too deeply", op.position)
            try:
                return s.Unary(op.text, self._unary(), op.position)
            finally:
                self._depth -= 1
        return self._postfix(self._primary())

    def _postfix(self, target: s.Expr) -> s.Expr:
        while self._at("."):
            self._next()
            name = self._next()
            if name.kind is not Kind.NAME or name.text.startswith("$"):
                raise syntax_error(
                    f"Expected a member name after '.' but found {_describe(name)}", name.position
                )
            if self._at("("):
                if not isinstance(target, s.Name):
                    raise syntax_error(
                        f"'{name.text}' can only be called on a service-defined variable",
                        name.position,
                    )
                target = s.MethodCall(target, name.text, self._arguments(), name.position)
            else:
                target = s.Member(target, name.text, name.position)
        return target

    def _primary(self) -> s.Expr:
        token = self._next()
        if token.kind is Kind.NUMBER:
            return s.Number(float(token.text), token.position)
        if token.kind is Kind.STRING:
            return s.String(token.text[1:-1], token.position)
        if token.kind is Kind.NAME:
            if self._at("("):
                return s.Call(token.text, self._arguments(), token.position)
            return s.Name(token.text, token.position)
        if token.kind is Kind.OP and token.text == "(":
            inner = self._expression()
            self._expect(")")
            return inner
        raise syntax_error(f"Unexpected {_describe(token)}", token.position)

    def _arguments(self) -> tuple[s.Expr, ...]:
        self._expect("(")
        args: list[s.Expr] = []
        if not self._at(")"):
            args.append(self._expression())
            while self._at(","):
                self._next()
                args.append(self._expression())
        self._expect(")")
        return tuple(args)


def _describe(token: Token) -> str:
    if token.kind is Kind.END:
        return "the end of the formula"
    return f"'{token.text}'"


def parse(tokens: list[Token]) -> s.Program:
    """Parse a token list (ending with END) into a ``Program``; raises ``FormulaError``."""
    return _Parser(tokens).program()
