package dev.pgmemo.cache.analysis;

import dev.pgmemo.cache.analysis.SqlLexer.TokenType;

/**
 * Normalized form of a SQL text: the key of the analysis memo and the form that config rules
 * match against.
 *
 * <p>Literals (strings of every kind, numbers) and {@code $n} parameters become {@code ?};
 * comments are dropped; unquoted identifiers and keywords are lower-cased the way PostgreSQL
 * folds them, quoted identifiers are kept as written; tokens are re-spaced canonically (one
 * space between tokens, none inside {@code f(x)}, {@code a.b}, {@code x::int}, {@code [i]},
 * before {@code ,}), so the original whitespace does not matter; empty statements and a
 * trailing {@code ;} are dropped. A parenthesised list of two or more bare placeholders becomes
 * {@code (?, ...)} and repeated rows of placeholders collapse too, so
 * {@code IN ($1, $2, $3)} and {@code VALUES (1, 'a'), (2, 'b')} give the same fingerprint whatever
 * their length: {@code ... in (?, ...)}, {@code values (?, ...), ...}.
 *
 * <p>Two texts with the same fingerprint differ only in literal values, the number of literals
 * in such lists, comments, whitespace and the case of unquoted words, so they read and write the
 * same relations and call the same functions: the verdict of one is the verdict of the other.
 */
public final class Fingerprint {

    /** Words after which {@code (} is not a call and keeps a space: {@code IN (?, ?)}. */
    private static final String[] SPACED_BEFORE_PAREN = {
        "all", "and", "any", "as", "between", "by", "conflict", "cube", "distinct", "do", "else",
        "except", "exists", "filter", "from", "group", "groups", "having", "ilike", "in", "intersect",
        "into", "is", "join", "lateral", "like", "limit", "materialized", "not", "offset", "on",
        "only", "or", "order", "over", "partition", "range", "recursive", "repeatable", "returning",
        "rollup", "rows", "select", "set", "sets", "similar", "some", "table", "tablesample", "then",
        "union", "using", "values", "when", "where", "window", "with", "within"
    };

    private Fingerprint() {
    }

    /**
     * Weight of a memo entry keyed by a fingerprint (the analyzer's verdicts, admission's shapes): one plus
     * one per KiB of fingerprint, so a few huge statements cannot pin megabytes in a memo bounded by weight.
     */
    public static int memoWeight(String fingerprint) {
        return 1 + fingerprint.length() / 1024;
    }

    /** The normalized form of {@code sql}. */
    public static String of(String sql) {
        return scan(sql).fingerprint();
    }

    /**
     * Result of the single pass: the fingerprint, how many non-empty statements the text holds,
     * and the first word of the first statement (lower-cased identifier, or the first symbol).
     */
    record Scan(String fingerprint, int statements, String firstWord, boolean unterminated,
            boolean timeDependentLiteral) {
    }

    private enum Last { NONE, WORD, QUOTED, PLACEHOLDER, OPEN, GLUE, OTHER }

    static Scan scan(String sql) {
        SqlLexer lexer = new SqlLexer(sql);
        SqlLexer.StatementBoundaries boundaries = new SqlLexer.StatementBoundaries();
        StringBuilder out = new StringBuilder(sql.length() + 16);
        Last last = Last.NONE;
        int lastWordStart = 0;
        int statements = 0;
        boolean inStatement = false;
        boolean pendingSemicolon = false;
        String firstWord = null;
        boolean timeDependentLiteral = false;
        PlaceholderLists lists = new PlaceholderLists();

        while (lexer.next()) {
            if (boundaries.isSeparator(lexer)) {
                if (inStatement) {
                    pendingSemicolon = true;
                    inStatement = false;
                }
                continue;
            }
            if (!inStatement) {
                inStatement = true;
                statements++;
                if (statements == 1) {
                    firstWord = lexer.type() == TokenType.IDENTIFIER ? lexer.value() : lexer.text();
                }
            }
            if (pendingSemicolon) {
                out.append(';');
                last = Last.OTHER;
                pendingSemicolon = false;
                lists.reset();
            }
            TokenType type = lexer.type();
            switch (type) {
                case IDENTIFIER -> {
                    space(out, last);
                    lastWordStart = out.length();
                    out.append(sql, lexer.start(), lexer.end());
                    if (lexer.hasUpperCase()) {
                        for (int i = lastWordStart; i < out.length(); i++) {
                            char c = out.charAt(i);
                            if (c >= 'A' && c <= 'Z') {
                                out.setCharAt(i, (char) (c + ('a' - 'A')));
                            }
                        }
                    }
                    last = Last.WORD;
                    lists.other();
                }
                case QUOTED_IDENTIFIER -> {
                    space(out, last);
                    out.append(sql, lexer.start(), lexer.end());
                    last = Last.QUOTED;
                    lists.other();
                }
                case STRING, NUMBER, PARAMETER -> {
                    if (type == TokenType.STRING && !timeDependentLiteral) {
                        timeDependentLiteral = readsTheClock(lexer);
                    }
                    space(out, last);
                    out.append('?');
                    last = Last.PLACEHOLDER;
                    lists.placeholder();
                }
                case OPERATOR -> {
                    space(out, last);
                    out.append(sql, lexer.start(), lexer.end());
                    last = Last.OTHER;
                    if (lexer.length() == 1 && lexer.firstChar() == '?') {
                        lists.placeholder(); // a rule written as "IN (?, ?)" matches "IN ($1, $2, $3)"
                    } else {
                        lists.other();
                    }
                }
                case PUNCTUATION -> last = punctuation(lexer, out, last, lastWordStart, lists);
                default -> throw new IllegalStateException(type.name());
            }
        }
        return new Scan(out.toString(), statements, firstWord, lexer.sawUnterminated(), timeDependentLiteral);
    }

    /**
     * True if the string literal at the lexer's position, as PostgreSQL decodes it, holds one of
     * the datetime input words that read the clock. A plain or dollar-quoted literal is read in
     * place (its raw text has the same words as its value, unless a newline joins two segments);
     * {@code E''} and {@code U&''} literals are decoded first ({@code E'\x6eow'} is {@code 'now'}),
     * the latter with the escape character of a following {@code UESCAPE 'c'}.
     */
    private static boolean readsTheClock(SqlLexer lexer) {
        String sql = lexer.sql();
        int start = lexer.start();
        int end = lexer.end();
        switch (lexer.stringPrefix()) {
            case 'E' -> {
                return mentionsRelativeDay(lexer.value());
            }
            case 'U' -> {
                return mentionsRelativeDay(lexer.unicodeStringValue(unicodeEscape(lexer)));
            }
            default -> {
                for (int i = start; i < end; i++) {
                    char c = sql.charAt(i);
                    if (c == '\n' || c == '\r') {
                        return mentionsRelativeDay(lexer.value());
                    }
                }
                return mentionsRelativeDay(sql, start, end);
            }
        }
    }

    /** The escape character of the U&amp; string at the lexer's position: {@code UESCAPE 'c'} after it, or {@code \}. */
    private static char unicodeEscape(SqlLexer lexer) {
        SqlLexer ahead = new SqlLexer(lexer.sql(), lexer.end());
        if (ahead.next() && ahead.isWord("uescape") && ahead.next() && ahead.type() == TokenType.STRING) {
            String escape = ahead.value();
            if (escape.length() == 1) {
                return escape.charAt(0);
            }
        }
        return '\\';
    }

    /**
     * True if a date/time input text (a decoded literal, or a parameter value in text form) holds
     * a word that reads the clock; see {@link #mentionsRelativeDay(CharSequence, int, int)}.
     */
    public static boolean mentionsRelativeDay(CharSequence text) {
        return mentionsRelativeDay(text, 0, text.length());
    }

    /**
     * True if the text holds one of the datetime input words that read the clock:
     * {@code 'now'}, {@code 'today'}, {@code 'tomorrow'}, {@code 'yesterday'}
     * (https://www.postgresql.org/docs/current/datatype-datetime.html#DATATYPE-DATETIME-SPECIAL-VALUES),
     * as a whole word (a run of ASCII letters, the way the server's datetime parser splits its
     * input) in any case, at any length: the parser skips any amount of whitespace. Since
     * literals do not enter the fingerprint this is checked on every call.
     */
    static boolean mentionsRelativeDay(CharSequence sql, int start, int end) {
        int i = start;
        while (i < end) {
            char c = sql.charAt(i);
            if (!isLetter(c)) {
                i++;
                continue;
            }
            int word = i;
            while (i < end && isLetter(sql.charAt(i))) {
                i++;
            }
            int length = i - word;
            if ((length == 3 && matches(sql, word, "now"))
                    || (length == 5 && matches(sql, word, "today"))
                    || (length == 8 && matches(sql, word, "tomorrow"))
                    || (length == 9 && matches(sql, word, "yesterday"))) {
                return true;
            }
        }
        return false;
    }

    /** ASCII case-insensitive comparison of {@code lowerCaseWord.length()} characters at {@code from}. */
    private static boolean matches(CharSequence text, int from, String lowerCaseWord) {
        for (int k = 0; k < lowerCaseWord.length(); k++) {
            if (SqlLexer.toLowerAscii(text.charAt(from + k)) != lowerCaseWord.charAt(k)) {
                return false;
            }
        }
        return true;
    }

    private static boolean isLetter(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    }

    private static Last punctuation(SqlLexer lexer, StringBuilder out, Last last, int lastWordStart,
            PlaceholderLists lists) {
        char c = lexer.firstChar();
        if (lexer.length() == 2) { // "::"
            out.append("::");
            lists.other();
            return Last.GLUE;
        }
        switch (c) {
            case '(' -> {
                if (!(last == Last.QUOTED || (last == Last.WORD && !spacedKeyword(out, lastWordStart)))) {
                    space(out, last);
                }
                out.append('(');
                lists.open(out.length() - 1);
                return Last.OPEN;
            }
            case '[' -> {
                out.append('[');
                lists.other();
                return Last.OPEN;
            }
            case ',' -> {
                out.append(',');
                lists.comma();
                return Last.OTHER;
            }
            case ')' -> {
                out.append(')');
                lists.close(out);
                return Last.OTHER;
            }
            case ']', ';' -> {
                out.append(c);
                lists.other();
                return Last.OTHER;
            }
            case '.' -> {
                out.append('.');
                lists.other();
                return Last.GLUE;
            }
            default -> {
                space(out, last);
                out.append(c);
                lists.other();
                return Last.OTHER;
            }
        }
    }

    /**
     * Collapses parenthesised lists of bare placeholders while the fingerprint is written: on
     * {@code )}, a group {@code (?, ?, ?)} is rewritten to {@code (?, ...)}, and a group of
     * placeholders that repeats the group just before it in the same list
     * ({@code (?, ...), (?, ...)}) becomes {@code , ...}. Tracks nesting up to a fixed depth;
     * deeper groups are left as written.
     */
    private static final class PlaceholderLists {
        private static final int MAX_DEPTH = 32;
        private static final String MORE = ", ...";
        /** Per depth: output offset of the group's '(' ... */
        private final int[] open = new int[MAX_DEPTH];
        /** ... how many bare placeholders it holds so far ... */
        private final int[] count = new int[MAX_DEPTH];
        /** ... whether all its elements so far are bare placeholders ... */
        private final boolean[] pure = new boolean[MAX_DEPTH];
        private final boolean[] expectElement = new boolean[MAX_DEPTH];
        /** ... and, for the list at this depth, the start of a pure group followed by ", ", or -1. */
        private final int[] previousGroup = new int[MAX_DEPTH];
        private int depth;
        /** Start of the pure group closed by the last token, or -1. */
        private int justClosed = -1;

        PlaceholderLists() {
            java.util.Arrays.fill(previousGroup, -1);
        }

        void reset() {
            depth = 0;
            justClosed = -1;
            previousGroup[0] = -1;
        }

        private boolean tracked() {
            return depth < MAX_DEPTH;
        }

        /** Any token other than a placeholder, ',' or a parenthesis. */
        void other() {
            if (tracked()) {
                pure[depth] = false;
                previousGroup[depth] = -1;
            }
            justClosed = -1;
        }

        void placeholder() {
            if (tracked()) {
                if (depth > 0 && pure[depth] && expectElement[depth]) {
                    count[depth]++;
                    expectElement[depth] = false;
                } else {
                    pure[depth] = false;
                }
                previousGroup[depth] = -1;
            }
            justClosed = -1;
        }

        void comma() {
            if (tracked()) {
                if (pure[depth] && !expectElement[depth]) {
                    expectElement[depth] = true;
                } else {
                    pure[depth] = false;
                }
                previousGroup[depth] = justClosed;
            }
            justClosed = -1;
        }

        /** Called after '(' was appended at output offset {@code at}. */
        void open(int at) {
            if (tracked()) {
                pure[depth] = false; // a group is not a bare placeholder of the enclosing list
            }
            justClosed = -1;
            depth++;
            if (tracked()) {
                open[depth] = at;
                count[depth] = 0;
                pure[depth] = true;
                expectElement[depth] = true;
                previousGroup[depth] = -1;
            }
        }

        /** Called after ')' was appended. */
        void close(StringBuilder out) {
            justClosed = -1;
            if (depth == 0) {
                return;
            }
            int d = depth--;
            if (d >= MAX_DEPTH || !pure[d] || expectElement[d] || count[d] == 0) {
                return;
            }
            int start = open[d];
            if (count[d] >= 2) {
                out.setLength(start);
                out.append("(?").append(MORE).append(')');
            }
            justClosed = start;
            int previous = tracked() ? previousGroup[depth] : -1;
            if (previous < 0) {
                return;
            }
            // out ends with: G' [", ..."] ", " G  -- drop G when it repeats G'
            int length = out.length() - start;
            int comma = start - 2;
            if (comma < 0 || out.charAt(comma) != ',' || out.charAt(comma + 1) != ' ') {
                return;
            }
            boolean collapsed = comma >= MORE.length() && regionEquals(out, comma - MORE.length(), MORE);
            int previousEnd = collapsed ? comma - MORE.length() : comma;
            if (previousEnd - length != previous || !regionEquals(out, previous, start, length)) {
                return;
            }
            out.setLength(comma);
            if (!collapsed) {
                out.append(MORE);
            }
            justClosed = previous;
        }

        private static boolean regionEquals(StringBuilder out, int from, String text) {
            for (int i = 0; i < text.length(); i++) {
                if (out.charAt(from + i) != text.charAt(i)) {
                    return false;
                }
            }
            return true;
        }

        private static boolean regionEquals(StringBuilder out, int a, int b, int length) {
            for (int i = 0; i < length; i++) {
                if (out.charAt(a + i) != out.charAt(b + i)) {
                    return false;
                }
            }
            return true;
        }
    }

    private static void space(StringBuilder out, Last last) {
        if (last != Last.NONE && last != Last.OPEN && last != Last.GLUE) {
            out.append(' ');
        }
    }

    private static boolean spacedKeyword(StringBuilder out, int from) {
        int length = out.length() - from;
        for (String keyword : SPACED_BEFORE_PAREN) {
            if (keyword.length() == length && keyword.charAt(0) == out.charAt(from)) {
                boolean same = true;
                for (int i = 1; i < length; i++) {
                    if (keyword.charAt(i) != out.charAt(from + i)) {
                        same = false;
                        break;
                    }
                }
                if (same) {
                    return true;
                }
            }
        }
        return false;
    }
}
