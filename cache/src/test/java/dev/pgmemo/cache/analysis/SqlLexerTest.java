package dev.pgmemo.cache.analysis;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pgmemo.cache.analysis.SqlLexer.Token;
import dev.pgmemo.cache.analysis.SqlLexer.TokenType;
import java.util.List;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import static org.junit.jupiter.params.provider.Arguments.arguments;

import java.util.stream.Stream;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class SqlLexerTest {

    private static String types(String sql) {
        return SqlLexer.tokenize(sql).stream().map(t -> t.type().name().substring(0, 3) + ":" + t.text())
                .collect(Collectors.joining(" "));
    }

    private static List<String> texts(String sql) {
        return SqlLexer.tokenize(sql).stream().map(Token::text).toList();
    }

    @Test
    void lexesIdentifiersKeywordsAndFoldsUnquotedOnesToLowerCase() {
        List<Token> tokens = SqlLexer.tokenize("SELECT Name, \"MixedCase\", a$b FROM Users");
        assertThat(tokens).extracting(Token::type).containsExactly(TokenType.IDENTIFIER, TokenType.IDENTIFIER,
                TokenType.PUNCTUATION, TokenType.QUOTED_IDENTIFIER, TokenType.PUNCTUATION, TokenType.IDENTIFIER,
                TokenType.IDENTIFIER, TokenType.IDENTIFIER);
        assertThat(tokens).extracting(Token::value)
                .containsExactly("select", "name", ",", "MixedCase", ",", "a$b", "from", "users");
    }

    @Test
    void foldsOnlyAsciiLettersLikePostgresInUtf8() {
        assertThat(SqlLexer.tokenize("ÉTÉ Été").get(0).value()).isEqualTo("ÉtÉ");
        assertThat(SqlLexer.tokenize("ÉTÉ Été").get(1).value()).isEqualTo("Été");
    }

    @Test
    void quotedIdentifierUnescapesDoubledQuotes() {
        Token t = SqlLexer.tokenize("\"a\"\"b\"").get(0);
        assertThat(t.type()).isEqualTo(TokenType.QUOTED_IDENTIFIER);
        assertThat(t.value()).isEqualTo("a\"b");
    }

    static Stream<Arguments> strings() {
        return Stream.of(
                arguments("'it''s'", "it's"),
                arguments("E'a\\'b'", "a'b"),
                arguments("e'line\\nnext'", "line\nnext"),
                arguments("E'x''y'", "x'y"),
                arguments("'back\\slash'", "back\\slash"),
                arguments("$$it's $ fine$$", "it's $ fine"),
                arguments("$fn$ body $$ inner $$ $fn$", " body $$ inner $$ "),
                arguments("B'1010'", "1010"),
                arguments("X'1F'", "1F"),
                arguments("N'national'", "national"),
                arguments("U&'d\\0061t'", "dat"),
                arguments("U&'\\+00006Eo\\\\w'", "no\\w"),
                arguments("E'\\x6eo\\x77'", "now"),
                arguments("E'\\156\\157w'", "now"),
                arguments("E'\\u006Eow \\U0001F600'", "now \uD83D\uDE00"),
                arguments("E'n\\o\\w\\\\'", "now\\"));
    }

    @ParameterizedTest
    @MethodSource("strings")
    void lexesEveryStringKindAsOneToken(String sql, String value) {
        List<Token> tokens = SqlLexer.tokenize(sql);
        assertThat(tokens).hasSize(1);
        assertThat(tokens.get(0).type()).isEqualTo(TokenType.STRING);
        assertThat(tokens.get(0).value()).isEqualTo(value);
    }

    @Test
    void backslashDoesNotEscapeInStandardStrings() {
        // standard_conforming_strings = on: 'a\' is a complete string, then a new token
        assertThat(texts("'a\\' || 'b'")).containsExactly("'a\\'", "||", "'b'");
    }

    @Test
    void joinsStringLiteralsSeparatedByANewlineLikeTheServer() {
        List<Token> joined = SqlLexer.tokenize("'a'\n  -- comment\n 'b' 'c'");
        assertThat(joined.get(0).type()).isEqualTo(TokenType.STRING);
        assertThat(joined.get(0).value()).isEqualTo("ab");
        // without a newline, 'b' 'c' is a syntax error for the server; the lexer keeps two tokens
        assertThat(joined).hasSize(2);
        // an E'' continuation keeps backslash escapes: \' does not end the second segment
        List<Token> escaped = SqlLexer.tokenize("E'a'\n'b\\'c'");
        assertThat(escaped).hasSize(1);
        assertThat(escaped.get(0).value()).isEqualTo("ab'c");
    }

    @Test
    void dollarInsideIdentifierIsNotADollarQuote() {
        assertThat(types("a$$b")).isEqualTo("IDE:a$$b");
        assertThat(types("$1 + $23")).isEqualTo("PAR:$1 OPE:+ PAR:$23");
        assertThat(types("$a$x$a$")).isEqualTo("STR:$a$x$a$");
    }

    @Test
    void dropsLineAndNestedBlockComments() {
        assertThat(texts("a -- c ' \" $$\nb /* x /* y */ still comment */ c")).containsExactly("a", "b", "c");
    }

    @Test
    void reportsUnterminatedInput() {
        for (String sql : List.of("SELECT 'abc", "SELECT \"abc", "SELECT $$abc", "SELECT 1 /* /* */", "SELECT E'\\'")) {
            SqlLexer lexer = new SqlLexer(sql);
            while (lexer.next()) {
                // drain
            }
            assertThat(lexer.sawUnterminated()).as(sql).isTrue();
        }
        SqlLexer ok = new SqlLexer("SELECT 'a' /* b */");
        while (ok.next()) {
            // drain
        }
        assertThat(ok.sawUnterminated()).isFalse();
    }

    @Test
    void lexesNumbersIncludingPostgres16Forms() {
        assertThat(types("1 1.5 .5 1e10 1.5E-3 0x1F 0o17 0b101 1_000_000 1."))
                .isEqualTo("NUM:1 NUM:1.5 NUM:.5 NUM:1e10 NUM:1.5E-3 NUM:0x1F NUM:0o17 NUM:0b101 NUM:1_000_000 NUM:1.");
        assertThat(texts("t.a")).containsExactly("t", ".", "a");
        assertThat(texts("a[1:2]")).containsExactly("a", "[", "1", ":", "2", "]");
    }

    @Test
    void lexesOperatorsWithTheServersTrailingSignRule() {
        assertThat(texts("x=-1")).containsExactly("x", "=", "-", "1");
        assertThat(texts("a<>b")).containsExactly("a", "<>", "b");
        assertThat(texts("j @- 1")).containsExactly("j", "@-", "1");
        assertThat(texts("a+-b")).containsExactly("a", "+", "-", "b");
        assertThat(texts("x::int")).containsExactly("x", "::", "int");
        assertThat(texts("a*/*c*/b")).containsExactly("a", "*", "b");
        assertThat(texts("a --c\n+b")).containsExactly("a", "+", "b");
        assertThat(texts("d ? 'k' ?| a")).containsExactly("d", "?", "'k'", "?|", "a");
        assertThat(texts("f(a => 1, b := 2)")).containsExactly("f", "(", "a", "=>", "1", ",", "b", ":=", "2", ")");
    }

    @Test
    void splitsOnTopLevelSemicolonsOnly() {
        String sql = "SELECT ';' AS a; SELECT $$;$$, E'\\';', \"x;y\" -- ; comment\n"
                + ";/* ; */; ;INSERT INTO t VALUES (1);";
        assertThat(SqlLexer.splitStatements(sql)).containsExactly(
                "SELECT ';' AS a",
                "SELECT $$;$$, E'\\';', \"x;y\"",
                "INSERT INTO t VALUES (1)");
    }

    @Test
    void dropsEmptyStatementsAndCommentOnlyText() {
        assertThat(SqlLexer.splitStatements("")).isEmpty();
        assertThat(SqlLexer.splitStatements(" ; ;; -- nothing\n /* nothing */")).isEmpty();
        assertThat(SqlLexer.splitStatements("BEGIN;COMMIT")).containsExactly("BEGIN", "COMMIT");
    }

    @Test
    void keepsSemicolonsInsideParenthesesAndSqlStandardFunctionBodies() {
        String rule = "CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); INSERT INTO b VALUES (2)); SELECT 1";
        assertThat(SqlLexer.splitStatements(rule)).hasSize(2).last().isEqualTo("SELECT 1");

        String function = "CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC "
                + "SELECT CASE WHEN true THEN 1 END; SELECT 2; END; SELECT f()";
        assertThat(SqlLexer.splitStatements(function)).containsExactly(
                "CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC "
                        + "SELECT CASE WHEN true THEN 1 END; SELECT 2; END",
                "SELECT f()");

        // BEGIN outside a function definition is a transaction start, not a block
        assertThat(SqlLexer.splitStatements("BEGIN; SELECT 1; END")).containsExactly("BEGIN", "SELECT 1", "END");
    }

    @Test
    void unterminatedStringSwallowsTheRestLikeTheServerWould() {
        assertThat(SqlLexer.splitStatements("SELECT 'a; DROP TABLE t")).containsExactly("SELECT 'a; DROP TABLE t");
    }

    @Test
    void cursorReportsWordsWithoutAllocating() {
        SqlLexer lexer = new SqlLexer("  SeLeCt /*x*/ 1");
        assertThat(lexer.next()).isTrue();
        assertThat(lexer.isWord("select")).isTrue();
        assertThat(lexer.isWord("selec")).isFalse();
        assertThat(lexer.whitespaceBefore()).isTrue();
        assertThat(lexer.next()).isTrue();
        assertThat(lexer.type()).isEqualTo(TokenType.NUMBER);
        assertThat(lexer.start()).isEqualTo(15);
        assertThat(lexer.next()).isFalse();
    }
}
