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

    /** An unquoted session keyword such as {@code CURRENT_USER}, or TABLESAMPLE. */
    boolean notImmutable;
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
