package dev.pgmemo.cache.analysis;

import dev.pgmemo.cache.analysis.Analysis.Kind;
import dev.pgmemo.cache.analysis.SqlLexer.Token;
import dev.pgmemo.cache.analysis.SqlLexer.TokenType;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.function.Function;

/**
 * Classifies every statement that is not a query or DML from its tokens alone: transaction
 * control, SET/RESET/SHOW/DISCARD, COPY, TRUNCATE, DDL, EXPLAIN and the rest. JSqlParser does not
 * parse most of these PostgreSQL forms ({@code BEGIN ISOLATION LEVEL ...},
 * {@code SET search_path TO a, b}, {@code RELEASE}, {@code DISCARD}, {@code COPY},
 * {@code TRUNCATE ... RESTART IDENTITY}, {@code LISTEN}, {@code DO}...), and pgmemo must recognise
 * transaction boundaries and session settings every time. Grammar references are the pages of
 * https://www.postgresql.org/docs/current/sql-commands.html.
 */
final class UtilityStatements {

    /** First words this class handles; the others (queries and DML) go to JSqlParser. */
    static final Set<String> FIRST_WORDS = Set.of("begin", "start", "commit", "end", "rollback", "abort",
            "savepoint", "release", "prepare", "execute", "deallocate", "set", "reset", "show", "discard",
            "listen", "unlisten", "notify", "call", "do", "lock", "vacuum", "analyze", "analyse", "explain",
            "grant", "revoke", "copy", "truncate", "refresh", "create", "alter", "drop", "comment",
            "security", "reassign", "import", "checkpoint", "cluster", "reindex", "load", "fetch", "move",
            "close", "declare");

    private final List<Token> tokens;
    private final String sql;
    private final String fingerprint;
    private final Function<String, Analysis> analyzeInner;

    private UtilityStatements(String sql, List<Token> tokens, String fingerprint,
            Function<String, Analysis> analyzeInner) {
        this.sql = sql;
        this.tokens = tokens;
        this.fingerprint = fingerprint;
        this.analyzeInner = analyzeInner;
    }

    /**
     * @param sql          one statement
     * @param tokens       its tokens
     * @param analyzeInner analyzes an embedded query (EXPLAIN, COPY (query) TO, DECLARE ... FOR)
     */
    static Analysis analyze(String sql, List<Token> tokens, String fingerprint,
            Function<String, Analysis> analyzeInner) {
        return new UtilityStatements(sql, tokens, fingerprint, analyzeInner).analyze();
    }

    private Analysis analyze() {
        String first = word(0);
        return switch (first) {
            case "begin" -> transactionStart(word(1).equals("work") || word(1).equals("transaction") ? 2 : 1);
            case "start" -> word(1).equals("transaction") ? transactionStart(2) : unparseable();
            case "commit" -> word(1).equals("prepared")
                    ? builder(Kind.OTHER).writesUnknown().build() // makes a prepared transaction's writes visible
                    : builder(Kind.COMMIT).build();
            case "end" -> builder(Kind.COMMIT).build();
            case "rollback" -> rollback();
            case "abort" -> builder(Kind.ROLLBACK).build();
            case "savepoint", "release" -> builder(Kind.SAVEPOINT).build();
            case "prepare" -> word(1).equals("transaction")
                    ? builder(Kind.OTHER).build() // ends the transaction; COMMIT PREPARED publishes it
                    : prepare();
            case "execute" -> execute();
            case "deallocate" -> deallocate();
            case "set" -> set();
            case "reset" -> reset();
            case "show" -> show();
            case "discard" -> discard();
            case "listen", "unlisten", "notify" -> builder(Kind.LISTEN_NOTIFY).build();
            case "call" -> codeRunner(Kind.CALL);
            case "do" -> codeRunner(Kind.DO);
            case "lock" -> builder(Kind.LOCK).build();
            case "vacuum", "analyze", "analyse" -> builder(Kind.VACUUM_ANALYZE).build();
            case "explain" -> explain();
            case "grant", "revoke" -> builder(Kind.GRANT_REVOKE).writesUnknown().build();
            case "copy" -> copy();
            case "truncate" -> truncate();
            case "refresh" -> refresh();
            case "create", "alter", "drop", "comment", "security", "reassign", "import" -> ddl();
            case "checkpoint", "cluster", "reindex", "load", "fetch", "move", "close" -> builder(Kind.OTHER).build();
            case "declare" -> declare();
            default -> unparseable();
        };
    }

    // ---------------------------------------------------------------- transactions

    private Analysis transactionStart(int from) {
        Analysis.Builder b = builder(Kind.BEGIN);
        transactionModes(from, b);
        return b.build();
    }

    /** ISOLATION LEVEL ..., READ WRITE | READ ONLY, [NOT] DEFERRABLE, comma separated or not. */
    private void transactionModes(int from, Analysis.Builder b) {
        int i = from;
        while (i < tokens.size()) {
            if (tokens.get(i).isSymbol(",")) {
                i++;
            } else if (word(i).equals("isolation") && word(i + 1).equals("level")) {
                String level = word(i + 2);
                if (level.equals("repeatable") || level.equals("read")) {
                    b.isolationLevel = level + " " + word(i + 3);
                    i += 4;
                } else {
                    b.isolationLevel = level;
                    i += 3;
                }
            } else if (word(i).equals("read") && word(i + 1).equals("only")) {
                b.readOnly = true;
                i += 2;
            } else if (word(i).equals("read") && word(i + 1).equals("write")) {
                b.readOnly = false;
                i += 2;
            } else if (word(i).equals("not") && word(i + 1).equals("deferrable")) {
                i += 2;
            } else if (word(i).equals("deferrable")) {
                i++;
            } else {
                return;
            }
        }
    }

    private Analysis rollback() {
        if (word(1).equals("prepared")) {
            return builder(Kind.OTHER).build();
        }
        int i = word(1).equals("work") || word(1).equals("transaction") ? 2 : 1;
        return builder(word(i).equals("to") ? Kind.SAVEPOINT : Kind.ROLLBACK).build();
    }

    /** DO, CALL and EXECUTE run code pgmemo cannot see: any write, any set_config. */
    private Analysis codeRunner(Kind kind) {
        return codeRunnerBuilder(kind).build();
    }

    private Analysis.Builder codeRunnerBuilder(Kind kind) {
        Analysis.Builder b = builder(kind).writesUnknown();
        b.callsSetConfig = true;
        return b;
    }

    /** {@code DEALLOCATE [PREPARE] name | ALL}: the name, or null for ALL (or a name the lexer cannot read). */
    /** {@code PREPARE name [(types)] AS statement}: plans a statement; records its name. */
    private Analysis prepare() {
        Analysis.Builder b = builder(Kind.PREPARE);
        b.settingName = qualifiedName(new int[] {1});
        return b.build();
    }

    private Analysis deallocate() {
        int i = word(1).equals("prepare") ? 2 : 1;
        Analysis.Builder b = builder(Kind.DEALLOCATE);
        b.settingName = word(i).equals("all") ? null : qualifiedName(new int[] {i});
        return b.build();
    }

    /** {@code EXECUTE name [(args)]}: runs code pgmemo cannot see; records the statement name. */
    private Analysis execute() {
        Analysis.Builder b = codeRunnerBuilder(Kind.EXECUTE);
        b.settingName = qualifiedName(new int[] {1});
        return b.build();
    }

    // ---------------------------------------------------------------- settings

    private Analysis set() {
        Analysis.Builder b = builder(Kind.SET);
        int i = 1;
        if (word(i).equals("local")) {
            b.local = true;
            i++;
        } else if (word(i).equals("session") && !word(i + 1).equals("authorization")
                && !word(i + 1).equals("characteristics")) {
            i++;
        }
        String w = word(i);
        String w2 = word(i + 1);
        if (w.equals("time") && w2.equals("zone")) {
            String value = value(i + 2);
            b.setting("timezone", "local".equals(value) ? null : value);
        } else if (w.equals("schema")) {
            b.setting("search_path", value(i + 1));
        } else if (w.equals("names")) {
            b.setting("client_encoding", value(i + 1));
        } else if (w.equals("xml") && w2.equals("option")) {
            b.setting("xmloption", value(i + 2));
        } else if (w.equals("role")) {
            b.setting("role", value(i + 1));
        } else if (w.equals("session") && w2.equals("authorization")) {
            b.setting("session_authorization", value(i + 2));
        } else if (w.equals("session") && w2.equals("characteristics")) {
            b.setting("session_characteristics", null);
            transactionModes(i + 4, b); // SET SESSION CHARACTERISTICS AS TRANSACTION modes
        } else if (w.equals("transaction") && w2.equals("snapshot")) {
            b.setting("transaction_snapshot", value(i + 2));
        } else if (w.equals("transaction")) {
            b.setting("transaction", null);
            transactionModes(i + 1, b);
        } else if (w.equals("constraints")) {
            b.setting("constraints", value(i + 1));
        } else {
            int[] next = {i};
            String name = qualifiedName(next);
            int v = next[0];
            if (name == null || !(word(v).equals("to") || symbol(v, "="))) {
                b.settingName = name;
                return b.build(); // malformed: the server will reject it
            }
            String value = value(v + 1);
            b.setting(name, value);
            if (value != null && (name.equals("transaction_isolation") || name.equals("default_transaction_isolation"))) {
                b.isolationLevel = value.toLowerCase(java.util.Locale.ROOT);
            }
            if (value != null && (name.equals("transaction_read_only") || name.equals("default_transaction_read_only"))) {
                b.readOnly = Set.of("on", "true", "yes", "1", "t", "y").contains(value.toLowerCase(java.util.Locale.ROOT));
            }
        }
        return b.build();
    }

    private Analysis reset() {
        Analysis.Builder b = builder(Kind.RESET);
        b.settingName = specialSettingName(1);
        return b.build();
    }

    private Analysis show() {
        Analysis.Builder b = builder(Kind.SHOW);
        b.settingName = specialSettingName(1);
        return b.build();
    }

    /** Setting name as RESET and SHOW spell it, including the multi-word forms. */
    private String specialSettingName(int i) {
        String w = word(i);
        String w2 = word(i + 1);
        if (w.equals("time") && w2.equals("zone")) {
            return "timezone";
        }
        if (w.equals("session") && w2.equals("authorization")) {
            return "session_authorization";
        }
        if (w.equals("transaction") && w2.equals("isolation")) {
            return "transaction_isolation";
        }
        return qualifiedName(new int[] {i});
    }

    private Analysis discard() {
        Analysis.Builder b = builder(Kind.DISCARD);
        String what = word(1);
        b.settingName = what.equals("temporary") ? "temp" : what.isEmpty() ? null : what;
        return b.build();
    }

    /**
     * A SET value: strings unquoted, unquoted words lower-cased, quoted identifiers unquoted,
     * list items joined with ", "; null for DEFAULT.
     */
    private String value(int from) {
        if (from >= tokens.size()) {
            return null;
        }
        if (from == tokens.size() - 1 && tokens.get(from).isWord("default")) {
            return null;
        }
        StringBuilder out = new StringBuilder();
        boolean glue = true;
        for (int i = from; i < tokens.size(); i++) {
            Token t = tokens.get(i);
            if (t.isSymbol(",")) {
                out.append(", ");
                glue = true;
                continue;
            }
            if (!glue) {
                out.append(' ');
            }
            out.append(t.value());
            glue = t.type() == TokenType.OPERATOR && (t.text().equals("-") || t.text().equals("+"));
        }
        return out.toString();
    }

    /** Reads {@code a.b.c} at {@code pos[0]}, folded; advances {@code pos[0]}. Null if absent. */
    private String qualifiedName(int[] pos) {
        StringBuilder name = new StringBuilder();
        int i = pos[0];
        while (i < tokens.size()) {
            Token t = tokens.get(i);
            if (t.type() != TokenType.IDENTIFIER && t.type() != TokenType.QUOTED_IDENTIFIER) {
                break;
            }
            name.append(t.value());
            i++;
            if (i < tokens.size() && tokens.get(i).isSymbol(".")) {
                name.append('.');
                i++;
            } else {
                break;
            }
        }
        pos[0] = i;
        return name.length() == 0 ? null : name.toString();
    }

    // ---------------------------------------------------------------- data

    private Analysis explain() {
        int i = 1;
        boolean analyze = false;
        if (symbol(i, "(")) {
            int close = matchingParen(i);
            int item = i + 1;
            while (item < close) {
                String option = word(item);
                int end = item;
                while (end < close && !symbol(end, ",")) {
                    end++;
                }
                if (option.equals("analyze") || option.equals("analyse")) {
                    String v = end > item + 1 ? tokens.get(item + 1).value().toLowerCase(java.util.Locale.ROOT) : "true";
                    analyze = !(v.equals("false") || v.equals("off") || v.equals("0"));
                }
                item = end + 1;
            }
            i = close + 1;
        } else {
            while (word(i).equals("analyze") || word(i).equals("analyse") || word(i).equals("verbose")) {
                analyze |= !word(i).equals("verbose");
                i++;
            }
        }
        Analysis.Builder b = builder(Kind.EXPLAIN);
        if (i >= tokens.size()) {
            return b.build();
        }
        // EXPLAIN ANALYZE executes the statement: its writes happen.
        return b.absorbEffects(analyzeInner.apply(rest(i)), analyze).build();
    }

    private Analysis copy() {
        int i = 1;
        if (word(i).equals("binary")) {
            i++;
        }
        if (symbol(i, "(")) {
            int close = matchingParen(i);
            Analysis inner = analyzeInner.apply(between(i + 1, close));
            if (!word(close + 1).equals("to")) {
                return unparseable();
            }
            // COPY (query) TO runs the query, which may be INSERT/UPDATE/DELETE ... RETURNING.
            return builder(Kind.COPY_TO).absorbEffects(inner, true).build();
        }
        TableName table = tableName(i);
        if (table == null) {
            return unparseable();
        }
        int after = skipQualifiedName(i);
        if (symbol(after, "(")) {
            after = matchingParen(after) + 1;
        }
        if (word(after).equals("to")) {
            return builder(Kind.COPY_TO).reads(List.of(table)).build();
        }
        if (word(after).equals("from")) {
            Analysis.Builder b = builder(Kind.COPY_FROM).writes(List.of(table));
            for (int k = after; k < tokens.size(); k++) {
                if (tokens.get(k).isWord("where")) {
                    b.writesUnknown(); // COPY ... FROM ... WHERE may call functions
                }
            }
            return b.build();
        }
        return unparseable();
    }

    private Analysis truncate() {
        Analysis.Builder b = builder(Kind.TRUNCATE);
        int i = word(1).equals("table") ? 2 : 1;
        List<TableName> tables = new ArrayList<>();
        while (i < tokens.size()) {
            if (word(i).equals("only")) {
                i++;
            }
            TableName t = tableName(i);
            if (t == null) {
                return unparseable();
            }
            tables.add(t);
            i = skipQualifiedName(i);
            if (symbol(i, "*")) {
                i++;
            }
            if (symbol(i, ",")) {
                i++;
            } else {
                break;
            }
        }
        if (tables.isEmpty()) {
            return unparseable();
        }
        for (; i < tokens.size(); i++) {
            if (tokens.get(i).isWord("cascade")) {
                b.writesUnknown(); // tables with foreign keys to these are truncated too
            }
        }
        return b.writes(tables).build();
    }

    private Analysis refresh() {
        if (!word(1).equals("materialized") || !word(2).equals("view")) {
            return unparseable();
        }
        int i = word(3).equals("concurrently") ? 4 : 3;
        TableName view = tableName(i);
        return view == null ? unparseable() : builder(Kind.REFRESH_MATVIEW).writes(List.of(view)).build();
    }

    /** DDL bumps the epoch (it can change any cached result); tables and views are named where easy. */
    private Analysis ddl() {
        Analysis.Builder b = builder(Kind.DDL).writesUnknown();
        String first = word(0);
        if (!(first.equals("create") || first.equals("alter") || first.equals("drop"))) {
            return b.build();
        }
        int i = 1;
        Set<String> modifiers = Set.of("or", "replace", "temp", "temporary", "unlogged", "global", "local",
                "materialized", "foreign", "recursive");
        while (modifiers.contains(word(i))) {
            i++;
        }
        if (!(word(i).equals("table") || word(i).equals("view"))) {
            return b.build();
        }
        i++;
        while (word(i).equals("if") || word(i).equals("not") || word(i).equals("exists") || word(i).equals("only")) {
            i++;
        }
        List<TableName> names = new ArrayList<>();
        while (true) {
            TableName t = tableName(i);
            if (t == null) {
                break;
            }
            names.add(t);
            i = skipQualifiedName(i);
            if (!first.equals("drop") || !symbol(i, ",")) {
                break;
            }
            i++;
        }
        return b.writes(names).build();
    }

    private Analysis declare() {
        Analysis.Builder b = builder(Kind.OTHER);
        for (int i = 1; i + 1 < tokens.size(); i++) {
            if (tokens.get(i).isWord("cursor")) {
                for (int k = i + 1; k < tokens.size(); k++) {
                    if (tokens.get(k).isWord("for") && k + 1 < tokens.size()) {
                        return b.absorbEffects(analyzeInner.apply(rest(k + 1)), true).build();
                    }
                }
            }
        }
        return b.build();
    }

    // ---------------------------------------------------------------- helpers

    private Analysis.Builder builder(Kind kind) {
        return Analysis.builder(fingerprint, kind);
    }

    private Analysis unparseable() {
        return builder(Kind.UNPARSEABLE).build();
    }

    /** Lower-cased unquoted word at {@code i}, or "" if the token is anything else. */
    private String word(int i) {
        if (i < 0 || i >= tokens.size() || tokens.get(i).type() != TokenType.IDENTIFIER) {
            return "";
        }
        return tokens.get(i).value();
    }

    private boolean symbol(int i, String s) {
        return i >= 0 && i < tokens.size() && tokens.get(i).isSymbol(s);
    }

    private int matchingParen(int open) {
        int depth = 0;
        for (int i = open; i < tokens.size(); i++) {
            if (tokens.get(i).isSymbol("(")) {
                depth++;
            } else if (tokens.get(i).isSymbol(")") && --depth == 0) {
                return i;
            }
        }
        return tokens.size();
    }

    private TableName tableName(int i) {
        List<String> parts = new ArrayList<>();
        while (i < tokens.size()) {
            Token t = tokens.get(i);
            if (t.type() != TokenType.IDENTIFIER && t.type() != TokenType.QUOTED_IDENTIFIER) {
                break;
            }
            parts.add(t.value());
            if (symbol(i + 1, ".")) {
                i += 2;
            } else {
                break;
            }
        }
        if (parts.isEmpty()) {
            return null;
        }
        String name = parts.get(parts.size() - 1);
        return new TableName(parts.size() > 1 ? parts.get(parts.size() - 2) : null, name);
    }

    private int skipQualifiedName(int i) {
        int[] pos = {i};
        qualifiedName(pos);
        return pos[0];
    }

    private String rest(int from) {
        return sql.substring(tokens.get(from).start(), tokens.get(tokens.size() - 1).end());
    }

    private String between(int from, int toExclusive) {
        if (from >= toExclusive || from >= tokens.size()) {
            return "";
        }
        return sql.substring(tokens.get(from).start(), tokens.get(Math.min(toExclusive, tokens.size()) - 1).end());
    }
}
