package dev.pgmemo.cache.analysis;

import dev.pgmemo.cache.analysis.SqlLexer.Token;
import dev.pgmemo.cache.analysis.SqlLexer.TokenType;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Facts read from the token stream of one statement, independent of JSqlParser. They back up
 * the AST (a safety net where JSqlParser represents something unexpectedly: {@code current_user}
 * parses as a column) and stand in for it when the parse fails.
 */
final class LexicalFacts {

    /** Words that take a parenthesised list without being a function call. */
    private static final Set<String> NOT_CALLS = Set.of(
            "all", "and", "any", "as", "between", "by", "cast", "conflict", "cube", "distinct", "do",
            "else", "except", "exists", "filter", "from", "group", "groups", "having", "ilike", "in",
            "intersect", "into", "is", "join", "lateral", "like", "limit", "materialized", "not",
            "offset", "on", "only", "or", "order", "over", "partition", "range", "recursive",
            "repeatable", "returning", "rollup", "rows", "select", "set", "sets", "similar", "some",
            "table", "tablesample", "then", "union", "using", "values", "when", "where", "window",
            "with", "within", "case", "fetch", "ordinality", "row", "array",
            // types with modifiers: numeric(10, 2), varchar(20), timestamp(3)...
            "varchar", "char", "character", "varying", "nchar", "numeric", "decimal", "dec", "bit",
            "varbit", "float", "time", "timestamp", "timestamptz", "timetz", "interval");

    /**
     * Operator symbols defined in pg_catalog by PostgreSQL 15
     * ({@code SELECT DISTINCT oprname FROM pg_operator WHERE oprnamespace = 'pg_catalog'::regnamespace}),
     * plus {@code !=} (read as {@code <>}) and the named-argument markers {@code =>} and {@code :=}.
     * Any other symbol is a user-defined or extension operator whose function pgmemo does not know.
     */
    static final Set<String> BUILTIN_OPERATORS = Set.of(
            "!!", "!~", "!~*", "!~~", "!~~*", "#", "##", "#-", "#>", "#>>", "%", "&", "&&", "&<", "&<|", "&>",
            "*", "*<", "*<=", "*<>", "*=", "*>", "*>=", "+", "-", "->", "->>", "-|-", "/", "<", "<->", "<<",
            "<<=", "<<|", "<=", "<>", "<@", "<^", "=", ">", ">=", ">>", ">>=", ">^", "?", "?#", "?&", "?-",
            "?-|", "?|", "?||", "@", "@-@", "@>", "@?", "@@", "@@@", "^", "^@", "|", "|&>", "|/", "|>>", "||",
            "||/", "~", "~*", "~<=~", "~<~", "~=", "~>=~", "~>~", "~~", "~~*",
            "!=", "=>", ":=");

    /** Date/time types whose text input reads the clock ('now', 'today'...), and ranges and multiranges of them. */
    private static final Set<String> DATETIME_TYPES = Set.of("timestamp", "timestamptz", "date", "time",
            "timetz", "abstime", "tsrange", "tstzrange", "daterange", "tsmultirange", "tstzmultirange",
            "datemultirange");

    /**
     * Built-in types whose input never reads the clock and holds no date/time value. A cast of a
     * computed value to any type outside this list may run date/time input (a domain, composite or
     * range type over timestamptz).
     */
    private static final Set<String> CLOCK_FREE_TYPES = Set.of("bool", "boolean", "int", "int2", "int4",
            "int8", "integer", "smallint", "bigint", "real", "float", "float4", "float8", "double", "numeric",
            "decimal", "dec", "money", "text", "varchar", "char", "character", "nchar", "national", "bpchar",
            "name", "bytea", "bit", "varbit", "uuid", "json", "jsonb", "jsonpath", "xml", "inet", "cidr",
            "macaddr", "macaddr8", "interval", "oid", "regclass", "regtype", "regproc", "regprocedure",
            "regoper", "regoperator", "regnamespace", "regrole", "regconfig", "regdictionary", "regcollation",
            "tsvector", "tsquery", "point", "line", "lseg", "box", "path", "polygon", "circle", "int4range",
            "int8range", "numrange", "int4multirange", "int8multirange", "nummultirange", "pg_lsn");

    /** What a conversion to a type means for the clock. */
    private enum TargetType {
        /** Input never reads the clock. */
        CLOCK_FREE,
        /** Date/time input: reads the clock for 'now' and friends. */
        DATETIME,
        /** time with time zone: reads the current date (its DST offset) for any input without a zone. */
        TIMETZ,
        /** Not a vetted built-in type: may be a domain or composite over a date/time type. */
        UNKNOWN
    }

    /** An unquoted session keyword such as {@code CURRENT_USER}, or TABLESAMPLE. */
    boolean notImmutable;
    /**
     * A value is converted at run time to a date/time type from something other than a literal or
     * a parameter (whose text is checked per call), or converted to time with time zone at all:
     * the result may depend on the clock ({@code reverse('won')::timestamptz}).
     */
    boolean clockConversion;
    /** An operator that is not one of PostgreSQL's built-in symbols, or {@code OPERATOR(...)} naming one. */
    boolean unknownOperator;
    /** A call to a known writing built-in ({@code lo_import(...)}). */
    boolean writerCall;
    boolean setConfig;
    boolean lockingClause;
    boolean into;
    /** {@code (INSERT|UPDATE|DELETE|MERGE}: a data-modifying WITH item. */
    boolean modifyingCte;
    /** Names written like calls ({@code name(}) that are neither syntax nor vetted built-ins. */
    final Set<String> possibleCalls = new LinkedHashSet<>();
    /** Deepest parenthesis nesting. */
    int maxDepth;

    static LexicalFacts of(List<Token> tokens) {
        LexicalFacts f = new LexicalFacts();
        int depth = 0;
        for (int i = 0; i < tokens.size(); i++) {
            Token t = tokens.get(i);
            Token prev = i > 0 ? tokens.get(i - 1) : null;
            Token next = i + 1 < tokens.size() ? tokens.get(i + 1) : null;
            if (t.isSymbol("(")) {
                depth++;
                f.maxDepth = Math.max(f.maxDepth, depth);
                if (next != null && (next.isWord("insert") || next.isWord("update") || next.isWord("delete")
                        || next.isWord("merge"))) {
                    f.modifyingCte = true;
                }
                continue;
            }
            if (t.isSymbol(")")) {
                depth = Math.max(0, depth - 1);
                continue;
            }
            if (t.type() == TokenType.OPERATOR && !BUILTIN_OPERATORS.contains(t.text())) {
                f.unknownOperator = true;
            }
            if (t.isSymbol("::")) {
                f.conversion(tokens, i + 1, isLiteral(prev));
            }
            boolean afterDot = prev != null && prev.isSymbol(".");
            if (t.type() == TokenType.IDENTIFIER && !afterDot) {
                String w = t.value();
                boolean label = prev != null && prev.isWord("as");
                if (!label && Functions.isSessionKeyword(w)) {
                    f.notImmutable = true;
                }
                if (w.equals("tablesample")) {
                    f.notImmutable = true;
                }
                if (w.equals("into")) {
                    f.into = true;
                }
                if (w.equals("for") && next != null && (next.isWord("update") || next.isWord("share")
                        || next.isWord("no") || next.isWord("key"))) {
                    f.lockingClause = true;
                }
            }
            boolean name = t.type() == TokenType.IDENTIFIER || t.type() == TokenType.QUOTED_IDENTIFIER;
            boolean inCatalog = afterDot && i >= 2 && tokens.get(i - 2).value().equals("pg_catalog")
                    && tokens.get(i - 2).type() != TokenType.STRING;
            if (name && (!afterDot || inCatalog)) {
                f.typedLiteralOrSpecialCall(tokens, i, afterDot ? tokens.get(i - 3 >= 0 ? i - 3 : i - 2) : prev);
            }
            if (name && next != null && next.isSymbol("(")) {
                String called = t.value();
                if (afterDot && i >= 2) {
                    Token schema = tokens.get(i - 2);
                    if (schema.type() == TokenType.IDENTIFIER || schema.type() == TokenType.QUOTED_IDENTIFIER) {
                        called = schema.value() + "." + called;
                    }
                }
                f.call(called, t.type() == TokenType.IDENTIFIER && !afterDot, prev);
            }
        }
        return f;
    }

    private static boolean isLiteral(Token t) {
        return t != null && (t.type() == TokenType.STRING || t.type() == TokenType.NUMBER
                || t.type() == TokenType.PARAMETER);
    }

    /** A conversion to the type named at {@code typeStart}, of a literal operand or not. */
    private void conversion(List<Token> tokens, int typeStart, boolean literalOperand) {
        switch (targetType(tokens, typeStart)) {
            case TIMETZ -> clockConversion = true;
            case DATETIME, UNKNOWN -> clockConversion |= !literalOperand;
            default -> {
            }
        }
    }

    /**
     * At a name not after a dot: {@code CAST(x AS type)}, {@code OPERATOR(schema.op)}, a
     * function-style conversion {@code timestamptz(x)}, or a typed literal
     * {@code time with time zone '10:00'}.
     */
    private void typedLiteralOrSpecialCall(List<Token> tokens, int i, Token prev) {
        Token t = tokens.get(i);
        Token next = i + 1 < tokens.size() ? tokens.get(i + 1) : null;
        boolean open = next != null && next.isSymbol("(");
        if (open && t.isWord("cast")) {
            int as = -1;
            int depth = 0;
            for (int k = i + 1; k < tokens.size(); k++) {
                Token u = tokens.get(k);
                if (u.isSymbol("(")) {
                    depth++;
                } else if (u.isSymbol(")")) {
                    if (--depth == 0) {
                        break;
                    }
                } else if (depth == 1 && u.isWord("as")) {
                    as = k;
                    break;
                }
            }
            if (as < 0) {
                clockConversion = true; // not understood: be safe
            } else {
                conversion(tokens, as + 1, as == i + 3 && isLiteral(tokens.get(i + 2)));
            }
            return;
        }
        if (open && t.isWord("operator")) {
            operatorSyntax(tokens, i + 2);
            return;
        }
        boolean typeContext = prev != null && (prev.isSymbol("::") || prev.isWord("as"));
        if (typeContext) {
            return;
        }
        String n = t.value();
        if (open && (n.equals("date") || n.equals("timestamp") || n.equals("timestamptz") || n.equals("time")
                || n.equals("timetz"))) {
            // function-style conversion, or a pg_proc function of that name: timestamptz(x), date(x)
            // (a literal argument is checked per call; timestamp(3) '...' is a typed literal with a precision)
            int close = i + 3;
            boolean literal = close < tokens.size() && isLiteral(tokens.get(i + 2)) && tokens.get(close).isSymbol(")");
            if (!literal || n.equals("timetz")) {
                clockConversion = true;
                return;
            }
        }
        if (targetType(tokens, i) == TargetType.TIMETZ) {
            int end = typeEnd(tokens, i);
            if (end < tokens.size() && tokens.get(end).type() == TokenType.STRING) {
                clockConversion = true; // timetz '10:00', time with time zone '10:00'
            }
        }
    }

    /** {@code OPERATOR(} already read; {@code k} is the first token of the operator name. */
    private void operatorSyntax(List<Token> tokens, int k) {
        int close = k;
        while (close < tokens.size() && !tokens.get(close).isSymbol(")")) {
            close++;
        }
        boolean vetted = false;
        if (close == k + 1) {
            vetted = tokens.get(k).type() == TokenType.OPERATOR && BUILTIN_OPERATORS.contains(tokens.get(k).text());
        } else if (close == k + 3) {
            Token schema = tokens.get(k);
            Token op = tokens.get(k + 2);
            vetted = (schema.type() == TokenType.IDENTIFIER || schema.type() == TokenType.QUOTED_IDENTIFIER)
                    && schema.value().equals("pg_catalog") && tokens.get(k + 1).isSymbol(".")
                    && op.type() == TokenType.OPERATOR && BUILTIN_OPERATORS.contains(op.text());
        }
        if (!vetted) {
            unknownOperator = true;
        }
    }

    /** Classifies the type name starting at token {@code k} (optionally {@code pg_catalog.}-qualified). */
    private static TargetType targetType(List<Token> tokens, int k) {
        if (k >= tokens.size()) {
            return TargetType.UNKNOWN;
        }
        Token first = tokens.get(k);
        if (k + 2 < tokens.size() && tokens.get(k + 1).isSymbol(".")) {
            boolean catalog = (first.type() == TokenType.IDENTIFIER || first.type() == TokenType.QUOTED_IDENTIFIER)
                    && first.value().equals("pg_catalog");
            return catalog ? targetType(tokens, k + 2) : TargetType.UNKNOWN;
        }
        if (first.type() != TokenType.IDENTIFIER && first.type() != TokenType.QUOTED_IDENTIFIER) {
            return TargetType.UNKNOWN;
        }
        String name = first.value();
        if (name.equals("timetz")) {
            return TargetType.TIMETZ;
        }
        if (name.equals("time") && first.type() == TokenType.IDENTIFIER) {
            int w = skipModifier(tokens, k + 1);
            if (w + 2 < tokens.size() && tokens.get(w).isWord("with") && tokens.get(w + 1).isWord("time")
                    && tokens.get(w + 2).isWord("zone")) {
                return TargetType.TIMETZ;
            }
        }
        if (DATETIME_TYPES.contains(name)) {
            return TargetType.DATETIME;
        }
        return CLOCK_FREE_TYPES.contains(name) ? TargetType.CLOCK_FREE : TargetType.UNKNOWN;
    }

    /** Index after a type name at {@code k} with its precision and WITH/WITHOUT TIME ZONE. */
    private static int typeEnd(List<Token> tokens, int k) {
        int w = skipModifier(tokens, k + 1);
        if (w + 2 < tokens.size() && (tokens.get(w).isWord("with") || tokens.get(w).isWord("without"))
                && tokens.get(w + 1).isWord("time") && tokens.get(w + 2).isWord("zone")) {
            w += 3;
        }
        return w;
    }

    /** Skips a parenthesised type modifier such as {@code (3)} starting at {@code k}. */
    private static int skipModifier(List<Token> tokens, int k) {
        if (k < tokens.size() && tokens.get(k).isSymbol("(")) {
            int close = k;
            while (close < tokens.size() && !tokens.get(close).isSymbol(")")) {
                close++;
            }
            return close + 1;
        }
        return k;
    }

    private void call(String name, boolean unqualifiedWord, Token prev) {
        if (name.equals("set_config") || name.equals("pg_catalog.set_config")) {
            setConfig = true;
        }
        switch (Functions.classify(name)) {
            case WRITES -> {
                writerCall = true;
                notImmutable = true;
            }
            case NOT_IMMUTABLE -> notImmutable = true;
            case UNKNOWN -> {
                boolean aliasColumns = prev != null && prev.isWord("as");
                if (!aliasColumns && !(unqualifiedWord && NOT_CALLS.contains(name))) {
                    possibleCalls.add(name);
                }
            }
            default -> {
            }
        }
    }
}
