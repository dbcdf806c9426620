package dev.pgmemo.cache.analysis;

import java.util.ArrayList;
import java.util.List;

/**
 * Single-pass lexer for PostgreSQL SQL text, following the token rules of the server's
 * {@code scan.l} (https://www.postgresql.org/docs/current/sql-syntax-lexical.html).
 *
 * <p>It is a cursor: {@link #next()} advances to the next token without allocating, so the
 * fingerprint on the hot path costs one pass over the characters. It recognises
 * {@code '...'} strings with {@code ''} escapes (and the newline continuation of adjacent
 * literals), {@code E'...'} strings with backslash escapes, {@code B''}, {@code X''},
 * {@code N''} and {@code U&''} strings, dollar-quoted strings, {@code "quoted"} and
 * {@code U&"quoted"} identifiers, numbers (including PostgreSQL 16 hex/octal/binary and
 * underscores), {@code $n} parameters, {@code --} and nested {@code /* *}{@code /} comments,
 * operators with the server's trailing {@code +}/{@code -} rule, and {@code ::} casts.
 *
 * <p>It assumes {@code standard_conforming_strings = on} (the default since 9.1): with it off,
 * backslashes in plain {@code '...'} strings escape quotes, which this lexer does not model.
 */
public final class SqlLexer {

    /** Token classes. Keywords are {@link #IDENTIFIER}s: PostgreSQL folds both the same way. */
    public enum TokenType {
        /** Unquoted identifier or keyword. */
        IDENTIFIER,
        /** {@code "quoted"} or {@code U&"quoted"} identifier. */
        QUOTED_IDENTIFIER,
        /** Any string literal: plain, E, B, X, N, U&amp; or dollar-quoted. */
        STRING,
        /** Numeric literal. */
        NUMBER,
        /** Positional parameter {@code $n}. */
        PARAMETER,
        /** Operator, including single-character ones such as {@code =} and {@code *}. */
        OPERATOR,
        /** {@code ( ) [ ] , ; . : ::} and any character PostgreSQL would reject. */
        PUNCTUATION
    }

    /** A materialised token; {@code value} is the folded/decoded form (see {@link #value()}). */
    public record Token(TokenType type, int start, int end, String text, String value) {
        /** True for an unquoted identifier/keyword equal to the given lower-case word. */
        public boolean isWord(String lowerCaseWord) {
            return type == TokenType.IDENTIFIER && value.equals(lowerCaseWord);
        }

        /** True for punctuation or operator with exactly this text. */
        public boolean isSymbol(String symbol) {
            return (type == TokenType.PUNCTUATION || type == TokenType.OPERATOR) && text.equals(symbol);
        }
    }

    private final String sql;
    private final int length;
    private int pos;

    private TokenType type;
    private int start;
    private int end;
    private boolean whitespaceBefore;
    private boolean unterminated;
    private char stringPrefix;
    private boolean hasUpperCase;

    public SqlLexer(String sql) {
        this.sql = sql;
        this.length = sql.length();
    }

    /** A lexer that starts at offset {@code from} of {@code sql} (to look ahead of another one). */
    SqlLexer(String sql, int from) {
        this(sql);
        this.pos = from;
    }

    /** The text being lexed. */
    public String sql() {
        return sql;
    }

    /**
     * Advances to the next token, skipping whitespace and comments.
     *
     * @return false at the end of the input
     */
    public boolean next() {
        whitespaceBefore = skipWhitespaceAndComments();
        if (pos >= length) {
            type = null;
            start = end = length;
            return false;
        }
        start = pos;
        char c = sql.charAt(pos);
        char n = pos + 1 < length ? sql.charAt(pos + 1) : '\0';
        stringPrefix = 0;
        if (c == '\'') {
            lexQuotedString(pos + 1, false);
        } else if (c == '"') {
            lexQuotedIdentifier(pos + 1);
        } else if ((c == 'e' || c == 'E') && n == '\'') {
            stringPrefix = 'E';
            lexQuotedString(pos + 2, true);
        } else if ((c == 'b' || c == 'B' || c == 'x' || c == 'X' || c == 'n' || c == 'N') && n == '\'') {
            stringPrefix = Character.toUpperCase(c);
            lexQuotedString(pos + 2, false);
        } else if ((c == 'u' || c == 'U') && n == '&' && pos + 2 < length
                && (sql.charAt(pos + 2) == '\'' || sql.charAt(pos + 2) == '"')) {
            if (sql.charAt(pos + 2) == '\'') {
                stringPrefix = 'U';
                lexQuotedString(pos + 3, false);
            } else {
                lexQuotedIdentifier(pos + 3);
            }
        } else if (isIdentStart(c)) {
            boolean upper = c >= 'A' && c <= 'Z';
            int i = pos + 1;
            while (i < length) {
                char ch = sql.charAt(i);
                if (ch < 128) {
                    if ((CLASSES[ch] & IDENT_CONT) == 0) {
                        break;
                    }
                    upper |= ch >= 'A' && ch <= 'Z';
                }
                i++;
            }
            hasUpperCase = upper;
            finish(TokenType.IDENTIFIER, i);
        } else if (isDigit(c) || (c == '.' && isDigit(n))) {
            lexNumber();
        } else if (c == '$') {
            lexDollar();
        } else if (c == ':') {
            finish(n == ':' ? TokenType.PUNCTUATION : n == '=' ? TokenType.OPERATOR : TokenType.PUNCTUATION,
                    n == ':' || n == '=' ? pos + 2 : pos + 1);
        } else if (isOpChar(c)) {
            lexOperator();
        } else {
            finish(TokenType.PUNCTUATION, pos + 1);
        }
        return true;
    }

    /** Type of the current token. */
    public TokenType type() {
        return type;
    }

    /** Start offset (inclusive) of the current token in {@link #sql()}. */
    public int start() {
        return start;
    }

    /** End offset (exclusive) of the current token. */
    public int end() {
        return end;
    }

    /** Raw text of the current token. */
    public String text() {
        return sql.substring(start, end);
    }

    /** True if whitespace or a comment separates the current token from the previous one. */
    public boolean whitespaceBefore() {
        return whitespaceBefore;
    }

    /** For an {@link TokenType#IDENTIFIER}: true if it contains ASCII upper-case letters. */
    public boolean hasUpperCase() {
        return type == TokenType.IDENTIFIER && hasUpperCase;
    }

    /** The first character of the current token. */
    public char firstChar() {
        return sql.charAt(start);
    }

    /** Length of the current token. */
    public int length() {
        return end - start;
    }

    /** True once an unterminated string, quoted identifier or comment was seen. */
    public boolean sawUnterminated() {
        return unterminated;
    }

    /**
     * For a {@link TokenType#STRING}: {@code 0} for a plain or dollar-quoted string, otherwise the
     * upper-case prefix letter ({@code E}, {@code B}, {@code X}, {@code N}, {@code U}).
     */
    public char stringPrefix() {
        return stringPrefix;
    }

    /** True if the current token is a single character equal to {@code c}. */
    public boolean is(char c) {
        return end - start == 1 && sql.charAt(start) == c && type != TokenType.IDENTIFIER
                && type != TokenType.NUMBER;
    }

    /** True if the current token is an unquoted identifier equal, ignoring ASCII case, to the lower-case word. */
    public boolean isWord(String lowerCaseWord) {
        if (type != TokenType.IDENTIFIER || end - start != lowerCaseWord.length()) {
            return false;
        }
        for (int i = 0; i < lowerCaseWord.length(); i++) {
            if (toLowerAscii(sql.charAt(start + i)) != lowerCaseWord.charAt(i)) {
                return false;
            }
        }
        return true;
    }

    /**
     * Folded/decoded value of the current token: unquoted identifiers lower-cased the way
     * PostgreSQL does (ASCII only), quoted identifiers unquoted, strings decoded (best effort
     * for escapes), everything else as written.
     */
    public String value() {
        switch (type) {
            case IDENTIFIER:
                return lowerAscii(sql, start, end);
            case QUOTED_IDENTIFIER:
                return unquoteIdentifier(text());
            case STRING:
                return decodeString();
            default:
                return text();
        }
    }

    /** Lexes the whole text into tokens. */
    public static List<Token> tokenize(String sql) {
        SqlLexer lexer = new SqlLexer(sql);
        List<Token> tokens = new ArrayList<>();
        while (lexer.next()) {
            tokens.add(lexer.token());
        }
        return tokens;
    }

    /** Materialises the current token. */
    public Token token() {
        return new Token(type, start, end, text(), value());
    }

    /**
     * Splits a simple-query string into its statements on top-level {@code ;} (outside
     * parentheses, quotes, comments and {@code BEGIN ... END} bodies of SQL-standard
     * function definitions, the way psql splits), dropping empty statements. Each
     * statement is returned from its first to its last token, without the {@code ;}.
     */
    public static List<String> splitStatements(String sql) {
        List<String> statements = new ArrayList<>();
        SqlLexer lexer = new SqlLexer(sql);
        StatementBoundaries boundaries = new StatementBoundaries();
        int first = -1;
        int last = -1;
        while (lexer.next()) {
            if (boundaries.isSeparator(lexer)) {
                if (first >= 0) {
                    statements.add(sql.substring(first, last));
                }
                first = -1;
                continue;
            }
            if (first < 0) {
                first = lexer.start();
            }
            last = lexer.end();
        }
        if (first >= 0) {
            statements.add(sql.substring(first, last));
        }
        return statements;
    }

    /**
     * Tracks where a top-level {@code ;} ends a statement: not inside parentheses (rule
     * actions) and not inside the {@code BEGIN ATOMIC ... END} body of
     * {@code CREATE [OR REPLACE] FUNCTION|PROCEDURE} (same heuristic as psql's lexer).
     */
    static final class StatementBoundaries {
        private int parenDepth;
        private int beginDepth;
        private int identifierCount;
        private final char[] leadingWords = new char[4];

        /** Feeds the lexer's current token; true if it is a statement-ending {@code ;}. */
        boolean isSeparator(SqlLexer lexer) {
            TokenType t = lexer.type();
            if (t == TokenType.PUNCTUATION) {
                if (lexer.length() == 1) {
                    switch (lexer.firstChar()) {
                        case '(' -> parenDepth++;
                        case ')' -> parenDepth = Math.max(0, parenDepth - 1);
                        case ';' -> {
                            if (parenDepth == 0 && beginDepth == 0) {
                                identifierCount = 0;
                                return true;
                            }
                        }
                        default -> {
                        }
                    }
                }
                return false;
            }
            if (t == TokenType.IDENTIFIER) {
                if (identifierCount < leadingWords.length) {
                    leadingWords[identifierCount] = leadingLetter(lexer);
                } else if (leadingWords[0] != 'c') {
                    return false; // not CREATE ...: no function body to track
                }
                identifierCount++;
                if (parenDepth == 0 && isFunctionDefinition()) {
                    if (lexer.isWord("begin")) {
                        beginDepth++;
                    } else if (lexer.isWord("case")) {
                        if (beginDepth > 0) {
                            beginDepth++;
                        }
                    } else if (lexer.isWord("end")) {
                        if (beginDepth > 0) {
                            beginDepth--;
                        }
                    }
                }
            }
            return false;
        }

        private static char leadingLetter(SqlLexer lexer) {
            char c = toLowerAscii(lexer.firstChar());
            if (c != 'c' && c != 'f' && c != 'p' && c != 'o' && c != 'r') {
                return 0;
            }
            if (lexer.isWord("create") || lexer.isWord("function") || lexer.isWord("procedure")
                    || lexer.isWord("or") || lexer.isWord("replace")) {
                return toLowerAscii(lexer.sql().charAt(lexer.start()));
            }
            return 0;
        }

        private boolean isFunctionDefinition() {
            char[] w = leadingWords;
            return w[0] == 'c' && (w[1] == 'f' || w[1] == 'p'
                    || (w[1] == 'o' && w[2] == 'r' && (w[3] == 'f' || w[3] == 'p')));
        }
    }

    // ---------------------------------------------------------------- scanning

    private boolean skipWhitespaceAndComments() {
        boolean skipped = false;
        while (pos < length) {
            char c = sql.charAt(pos);
            if (isWhitespace(c)) {
                pos++;
            } else if (c == '-' && pos + 1 < length && sql.charAt(pos + 1) == '-') {
                pos += 2;
                while (pos < length && sql.charAt(pos) != '\n' && sql.charAt(pos) != '\r') {
                    pos++;
                }
            } else if (c == '/' && pos + 1 < length && sql.charAt(pos + 1) == '*') {
                skipBlockComment();
            } else {
                break;
            }
            skipped = true;
        }
        return skipped;
    }

    private void skipBlockComment() {
        int depth = 0;
        while (pos < length) {
            char c = sql.charAt(pos);
            char n = pos + 1 < length ? sql.charAt(pos + 1) : '\0';
            if (c == '/' && n == '*') {
                depth++;
                pos += 2;
            } else if (c == '*' && n == '/') {
                depth--;
                pos += 2;
                if (depth == 0) {
                    return;
                }
            } else {
                pos++;
            }
        }
        unterminated = true;
    }

    /** Lexes a single-quoted string body starting at {@code i}, including newline continuations. */
    private void lexQuotedString(int i, boolean backslashEscapes) {
        while (true) {
            boolean closed = false;
            while (i < length) {
                char c = sql.charAt(i);
                if (backslashEscapes && c == '\\') {
                    i += 2;
                } else if (c == '\'') {
                    if (i + 1 < length && sql.charAt(i + 1) == '\'') {
                        i += 2;
                    } else {
                        i++;
                        closed = true;
                        break;
                    }
                } else {
                    i++;
                }
            }
            if (!closed) {
                unterminated = true;
                finish(TokenType.STRING, length);
                return;
            }
            int continuation = continuationQuote(sql, i);
            if (continuation < 0) {
                finish(TokenType.STRING, i);
                return;
            }
            i = continuation + 1;
        }
    }

    /**
     * PostgreSQL joins {@code 'a'} and {@code 'b'} into one literal when only whitespace with at
     * least one newline (and {@code --} comments) separates them. Returns the offset of the
     * continuing quote, or -1.
     */
    private static int continuationQuote(String sql, int i) {
        int length = sql.length();
        boolean newline = false;
        while (i < length) {
            char c = sql.charAt(i);
            if (c == '\n' || c == '\r') {
                newline = true;
                i++;
            } else if (isWhitespace(c)) {
                i++;
            } else if (c == '-' && i + 1 < length && sql.charAt(i + 1) == '-') {
                while (i < length && sql.charAt(i) != '\n' && sql.charAt(i) != '\r') {
                    i++;
                }
            } else {
                break;
            }
        }
        return newline && i < length && sql.charAt(i) == '\'' ? i : -1;
    }

    private void lexQuotedIdentifier(int i) {
        while (i < length) {
            if (sql.charAt(i) == '"') {
                if (i + 1 < length && sql.charAt(i + 1) == '"') {
                    i += 2;
                } else {
                    finish(TokenType.QUOTED_IDENTIFIER, i + 1);
                    return;
                }
            } else {
                i++;
            }
        }
        unterminated = true;
        finish(TokenType.QUOTED_IDENTIFIER, length);
    }

    private void lexNumber() {
        int i = pos;
        char c = sql.charAt(i);
        char n = i + 1 < length ? sql.charAt(i + 1) : '\0';
        if (c == '0' && (n == 'x' || n == 'X' || n == 'o' || n == 'O' || n == 'b' || n == 'B')
                && i + 2 < length && (isHexDigit(sql.charAt(i + 2)) || sql.charAt(i + 2) == '_')) {
            i += 2;
            while (i < length && (isHexDigit(sql.charAt(i)) || sql.charAt(i) == '_')) {
                i++;
            }
            finish(TokenType.NUMBER, i);
            return;
        }
        i = digits(i);
        if (i < length && sql.charAt(i) == '.' && !(i + 1 < length && sql.charAt(i + 1) == '.')) {
            i = digits(i + 1);
        }
        if (i < length && (sql.charAt(i) == 'e' || sql.charAt(i) == 'E')) {
            int j = i + 1;
            if (j < length && (sql.charAt(j) == '+' || sql.charAt(j) == '-')) {
                j++;
            }
            if (j < length && isDigit(sql.charAt(j))) {
                i = digits(j);
            }
        }
        finish(TokenType.NUMBER, i);
    }

    private int digits(int i) {
        while (i < length && (isDigit(sql.charAt(i)) || (sql.charAt(i) == '_' && i + 1 < length
                && isDigit(sql.charAt(i + 1))))) {
            i++;
        }
        return i;
    }

    private void lexDollar() {
        int i = pos + 1;
        if (i < length && isDigit(sql.charAt(i))) {
            while (i < length && isDigit(sql.charAt(i))) {
                i++;
            }
            finish(TokenType.PARAMETER, i);
            return;
        }
        if (i < length && isIdentStart(sql.charAt(i))) {
            i++;
            while (i < length && (isIdentStart(sql.charAt(i)) || isDigit(sql.charAt(i)))) {
                i++;
            }
        }
        if (i < length && sql.charAt(i) == '$') {
            String tag = sql.substring(pos, i + 1);
            int close = sql.indexOf(tag, i + 1);
            if (close < 0) {
                unterminated = true;
                finish(TokenType.STRING, length);
            } else {
                finish(TokenType.STRING, close + tag.length());
            }
            return;
        }
        finish(TokenType.PUNCTUATION, pos + 1);
    }

    /** Operators follow scan.l: longest run of operator characters, cut at a comment start, and
     *  a trailing + or - dropped unless the operator contains one of ~ ! @ # % ^ &amp; | ` ?. */
    private void lexOperator() {
        int i = pos;
        while (i < length && isOpChar(sql.charAt(i))) {
            if (i > pos) {
                char prev = sql.charAt(i - 1);
                char c = sql.charAt(i);
                if ((prev == '-' && c == '-') || (prev == '/' && c == '*')) {
                    i--;
                    break;
                }
            }
            i++;
        }
        int e = i;
        if (e - pos > 1) {
            char last = sql.charAt(e - 1);
            if (last == '+' || last == '-') {
                boolean special = false;
                for (int k = pos; k < e; k++) {
                    if ("~!@#^&|`?%".indexOf(sql.charAt(k)) >= 0) {
                        special = true;
                        break;
                    }
                }
                if (!special) {
                    while (e - pos > 1 && (sql.charAt(e - 1) == '+' || sql.charAt(e - 1) == '-')) {
                        e--;
                    }
                }
            }
        }
        finish(TokenType.OPERATOR, e);
    }

    private void finish(TokenType t, int e) {
        type = t;
        end = e;
        pos = e;
    }

    // ---------------------------------------------------------------- values

    private String decodeString() {
        String t = text();
        if (t.startsWith("$")) {
            int tagLength = t.indexOf('$', 1) + 1;
            String tag = t.substring(0, tagLength);
            boolean closed = t.length() >= 2 * tagLength && t.endsWith(tag);
            return t.substring(tagLength, closed ? t.length() - tagLength : t.length());
        }
        if (stringPrefix == 'U') {
            return decodeUnicodeEscapes(quotedBody(t, false), '\\');
        }
        return quotedBody(t, stringPrefix == 'E');
    }

    /**
     * For a {@code U&'...'} string: its value with {@code escape} as the escape character, as set
     * by a {@code UESCAPE 'c'} clause after the literal ({@link #value()} assumes the default
     * backslash).
     */
    String unicodeStringValue(char escape) {
        return decodeUnicodeEscapes(quotedBody(text(), false), escape);
    }

    /**
     * The body of a quoted string token: {@code ''} undoubled, continuation segments joined and,
     * for E'' strings, backslash escapes decoded as scan.l does: {@code \b \f \n \r \t},
     * {@code \o}..{@code \ooo} and {@code \xh}/{@code \xhh} bytes (read as UTF-8),
     * {@code &#92;uXXXX}, {@code &#92;UXXXXXXXX}, and any other {@code \c} as {@code c}.
     */
    private static String quotedBody(String t, boolean escapes) {
        int open = t.indexOf('\'');
        StringBuilder out = new StringBuilder(t.length());
        java.io.ByteArrayOutputStream bytes = null;
        int i = open + 1;
        while (i < t.length()) {
            char c = t.charAt(i);
            if (escapes && c == '\\' && i + 1 < t.length()) {
                char e = t.charAt(i + 1);
                int octal = 0;
                int n = 0;
                while (n < 3 && i + 1 + n < t.length() && t.charAt(i + 1 + n) >= '0' && t.charAt(i + 1 + n) <= '7') {
                    octal = octal * 8 + (t.charAt(i + 1 + n) - '0');
                    n++;
                }
                if (n > 0) {
                    bytes = addByte(bytes, octal);
                    i += 1 + n;
                    continue;
                }
                if (e == 'x' && i + 2 < t.length() && Character.digit(t.charAt(i + 2), 16) >= 0) {
                    int hex = Character.digit(t.charAt(i + 2), 16);
                    n = 1;
                    if (i + 3 < t.length() && Character.digit(t.charAt(i + 3), 16) >= 0) {
                        hex = hex * 16 + Character.digit(t.charAt(i + 3), 16);
                        n = 2;
                    }
                    bytes = addByte(bytes, hex);
                    i += 2 + n;
                    continue;
                }
                flushBytes(bytes, out);
                int digits = e == 'u' ? 4 : e == 'U' ? 8 : 0;
                int codePoint = digits > 0 ? hexValue(t, i + 2, digits) : -1;
                if (codePoint >= 0 && Character.isValidCodePoint(codePoint)) {
                    out.appendCodePoint(codePoint);
                    i += 2 + digits;
                    continue;
                }
                switch (e) {
                    case 'n' -> out.append('\n');
                    case 't' -> out.append('\t');
                    case 'r' -> out.append('\r');
                    case 'b' -> out.append('\b');
                    case 'f' -> out.append('\f');
                    default -> out.append(e);
                }
                i += 2;
                continue;
            }
            flushBytes(bytes, out);
            if (c == '\'') {
                if (i + 1 < t.length() && t.charAt(i + 1) == '\'') {
                    out.append('\'');
                    i += 2;
                } else {
                    // end of a segment; go on after the continuation quote, if any
                    int next = continuationQuote(t, i + 1);
                    if (next < 0) {
                        break;
                    }
                    i = next + 1;
                }
            } else {
                out.append(c);
                i++;
            }
        }
        flushBytes(bytes, out);
        return out.toString();
    }

    private static java.io.ByteArrayOutputStream addByte(java.io.ByteArrayOutputStream bytes, int b) {
        java.io.ByteArrayOutputStream buffer = bytes != null ? bytes : new java.io.ByteArrayOutputStream();
        buffer.write(b & 0xFF);
        return buffer;
    }

    private static void flushBytes(java.io.ByteArrayOutputStream bytes, StringBuilder out) {
        if (bytes != null && bytes.size() > 0) {
            out.append(bytes.toString(java.nio.charset.StandardCharsets.UTF_8));
            bytes.reset();
        }
    }

    /** The value of {@code digits} hex digits at {@code from}, or -1. */
    private static int hexValue(String s, int from, int digits) {
        if (from + digits > s.length()) {
            return -1;
        }
        int v = 0;
        for (int k = from; k < from + digits; k++) {
            int d = Character.digit(s.charAt(k), 16);
            if (d < 0) {
                return -1;
            }
            v = v * 16 + d;
        }
        return v;
    }

    /**
     * Decodes the escapes of a {@code U&'...'} string body
     * (https://www.postgresql.org/docs/current/sql-syntax-lexical.html#SQL-SYNTAX-STRINGS-UESCAPE):
     * escape + 4 hex digits, escape + {@code +} + 6 hex digits, and a doubled escape. Anything the
     * server would reject is kept as written.
     */
    static String decodeUnicodeEscapes(String body, char escape) {
        if (body.indexOf(escape) < 0) {
            return body;
        }
        StringBuilder out = new StringBuilder(body.length());
        int i = 0;
        while (i < body.length()) {
            char c = body.charAt(i);
            if (c == escape && i + 1 < body.length()) {
                if (body.charAt(i + 1) == escape) {
                    out.append(escape);
                    i += 2;
                    continue;
                }
                boolean plus = body.charAt(i + 1) == '+';
                int digits = plus ? 6 : 4;
                int codePoint = hexValue(body, i + (plus ? 2 : 1), digits);
                if (codePoint >= 0 && Character.isValidCodePoint(codePoint)) {
                    out.appendCodePoint(codePoint);
                    i += (plus ? 2 : 1) + digits;
                    continue;
                }
            }
            out.append(c);
            i++;
        }
        return out.toString();
    }

    static String unquoteIdentifier(String quoted) {
        int open = quoted.indexOf('"');
        int close = quoted.length() > open + 1 && quoted.endsWith("\"") ? quoted.length() - 1 : quoted.length();
        return quoted.substring(open + 1, Math.max(open + 1, close)).replace("\"\"", "\"");
    }

    // ---------------------------------------------------------------- character classes

    private static final byte WHITESPACE = 1;
    private static final byte IDENT_START = 2;
    private static final byte DIGIT = 4;
    private static final byte DOLLAR = 8;
    private static final byte OP_CHAR = 16;
    private static final byte IDENT_CONT = IDENT_START | DIGIT | DOLLAR;
    /** Classes of the ASCII characters; every non-ASCII character is an identifier character. */
    private static final byte[] CLASSES = new byte[128];

    static {
        for (char c : " \t\n\r\f\u000B".toCharArray()) {
            CLASSES[c] |= WHITESPACE;
        }
        for (char c = 'a'; c <= 'z'; c++) {
            CLASSES[c] |= IDENT_START;
            CLASSES[Character.toUpperCase(c)] |= IDENT_START;
        }
        CLASSES['_'] |= IDENT_START;
        for (char c = '0'; c <= '9'; c++) {
            CLASSES[c] |= DIGIT;
        }
        CLASSES['$'] |= DOLLAR;
        for (char c : "~!@#^&|`?+-*/%<>=".toCharArray()) {
            CLASSES[c] |= OP_CHAR;
        }
    }

    private static boolean has(char c, byte classes) {
        return c < 128 ? (CLASSES[c] & classes) != 0 : (classes & IDENT_START) != 0;
    }

    static boolean isIdentStart(char c) {
        return has(c, IDENT_START);
    }

    static boolean isIdentCont(char c) {
        return has(c, IDENT_CONT);
    }

    private static boolean isDigit(char c) {
        return c >= '0' && c <= '9';
    }

    private static boolean isHexDigit(char c) {
        return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    }

    private static boolean isWhitespace(char c) {
        return c < 128 && (CLASSES[c] & WHITESPACE) != 0;
    }

    private static boolean isOpChar(char c) {
        return c < 128 && (CLASSES[c] & OP_CHAR) != 0;
    }

    static char toLowerAscii(char c) {
        return c >= 'A' && c <= 'Z' ? (char) (c + ('a' - 'A')) : c;
    }

    /** PostgreSQL's identifier folding: ASCII letters only (multi-byte characters are kept). */
    static String lowerAscii(String s, int from, int to) {
        for (int i = from; i < to; i++) {
            char c = s.charAt(i);
            if (c >= 'A' && c <= 'Z') {
                char[] chars = s.substring(from, to).toCharArray();
                for (int k = i - from; k < chars.length; k++) {
                    chars[k] = toLowerAscii(chars[k]);
                }
                return new String(chars);
            }
        }
        return s.substring(from, to);
    }
}
