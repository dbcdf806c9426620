package dev.pgmemo.cache.analysis;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import static org.junit.jupiter.params.provider.Arguments.arguments;

import java.util.stream.Stream;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class FingerprintTest {

    @Test
    void replacesLiteralsAndParametersWithPlaceholders() {
        assertThat(Fingerprint.of("SELECT * FROM users WHERE id = 42 AND name = 'bob' AND x = $1"))
                .isEqualTo("select * from users where id = ? and name = ? and x = ?");
        assertThat(Fingerprint.of("SELECT E'a\\'b', $$c$$, $t$d$t$, B'1', X'F', 1.5e3, -7"))
                .isEqualTo("select ?, ?, ?, ?, ?, ?, - ?");
    }

    static Stream<Arguments> sameShape() {
        return Stream.of(
                arguments("SELECT * FROM users WHERE id = 1", "select * from users where id = 2"),
                arguments("SELECT * FROM users WHERE id = 1", "SELECT  *\n\tFROM Users\nWHERE ID=$1"),
                arguments("SELECT * FROM users WHERE id = 1", "select * /* hint */ from users -- x\n where id = '1'"),
                arguments("SELECT count(*) FROM t WHERE a IN (1, 2)", "SELECT COUNT ( * ) FROM T WHERE A IN(3,4)"),
                arguments("SELECT x::int FROM t", "select x :: int from t"),
                arguments("SELECT t.a FROM t", "SELECT t . a FROM t"),
                arguments("SELECT 1;", "SELECT 2 ;;"),
                arguments("SELECT 'a'\n'b' FROM t", "SELECT 'ab' FROM t"),
                arguments("SELECT E'it\\'s' FROM t", "SELECT 'it''s' FROM t"),
                arguments("SELECT * FROM t WHERE a IN (1, 2)", "SELECT * FROM t WHERE a IN ($1, $2, $3, $4)"),
                arguments("INSERT INTO t (a, b) VALUES (1, 'x')", "INSERT INTO t (a, b) VALUES ($1, $2, $3)"),
                arguments("INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y')",
                        "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4), ($5, $6), ($7, $8)"),
                arguments("INSERT INTO t VALUES (1), (2) RETURNING id", "INSERT INTO t VALUES (1), (2), (3) RETURNING id"),
                arguments("SELECT * FROM t WHERE (a, b) IN ((1, 2), (3, 4))",
                        "SELECT * FROM t WHERE (a, b) IN ((1, 2), (3, 4), (5, 6))"));
    }

    @ParameterizedTest
    @MethodSource("sameShape")
    void isEqualAcrossLiteralsWhitespaceCommentsAndCase(String a, String b) {
        assertThat(Fingerprint.of(a)).isEqualTo(Fingerprint.of(b));
    }

    static Stream<Arguments> differentShape() {
        return Stream.of(
                arguments("SELECT * FROM users WHERE id = 1", "SELECT * FROM orders WHERE id = 1"),
                arguments("SELECT * FROM users WHERE id = 1", "SELECT * FROM users WHERE id > 1"),
                arguments("SELECT * FROM \"Users\"", "SELECT * FROM users"),
                arguments("SELECT a FROM t", "SELECT b FROM t"),
                arguments("SELECT * FROM t WHERE a IN (1)", "SELECT * FROM t WHERE a IN (1, 2)"),
                arguments("SELECT * FROM t WHERE a IN (1, 2)", "SELECT * FROM t WHERE a IN (1, b)"),
                arguments("SELECT * FROM t WHERE a IN (1, 2)", "SELECT * FROM t WHERE a IN (1, -2)"),
                arguments("INSERT INTO t VALUES (1, 2)", "INSERT INTO t VALUES (1, 2), (3, 4)"),
                arguments("INSERT INTO t VALUES (1), (2)", "INSERT INTO t VALUES (1), (now())"),
                arguments("INSERT INTO t VALUES (1), (2)", "INSERT INTO t VALUES (1, 2)"),
                arguments("SELECT f(1, 2)", "SELECT f(1, 2), (3, 4)"),
                arguments("SELECT f(1, 2), g(3, 4)", "SELECT f(1, 2), (3, 4)"),
                arguments("SELECT x::int FROM t", "SELECT x::text FROM t"),
                arguments("SELECT * FROM t WHERE a = true", "SELECT * FROM t WHERE a = false"),
                arguments("SELECT * FROM t FOR UPDATE", "SELECT * FROM t"),
                arguments("SELECT a - 1 FROM t", "SELECT a -- 1\n FROM t"),
                arguments("SELECT 1; SELECT 2", "SELECT 1"));
    }

    @ParameterizedTest
    @MethodSource("differentShape")
    void differsAcrossStructure(String a, String b) {
        assertThat(Fingerprint.of(a)).isNotEqualTo(Fingerprint.of(b));
    }

    @Test
    void keepsQuotedIdentifiersAsWritten() {
        assertThat(Fingerprint.of("SELECT \"Id\" FROM \"Sales\".\"Orders\"")).isEqualTo("select \"Id\" from \"Sales\".\"Orders\"");
    }

    @Test
    void spacesCanonically() {
        assertThat(Fingerprint.of("select count(*), max(a.b), arr[1] from t where x in (1,2) and exists(select 1)"))
                .isEqualTo("select count(*), max(a.b), arr[?] from t where x in (?, ...) and exists (select ?)");
        assertThat(Fingerprint.of("SELECT 1; SELECT 2;")).isEqualTo("select ?; select ?");
        assertThat(Fingerprint.of("  -- only a comment\n ; ")).isEmpty();
    }

    @Test
    void collapsesListsAndRowsOfPlaceholders() {
        assertThat(Fingerprint.of("SELECT * FROM t WHERE id IN ($1, $2, $3)")).isEqualTo("select * from t where id in (?, ...)");
        assertThat(Fingerprint.of("SELECT * FROM t WHERE id IN ($1)")).isEqualTo("select * from t where id in (?)");
        assertThat(Fingerprint.of("INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y'), (3, 'z') ON CONFLICT DO NOTHING"))
                .isEqualTo("insert into t(a, b) values (?, ...), ... on conflict do nothing");
        assertThat(Fingerprint.of("INSERT INTO t VALUES (1), (2); SELECT (1), (2), x"))
                .isEqualTo("insert into t values (?), ...; select (?), ..., x");
        // rules are written with ?, which lexes as an operator
        assertThat(Fingerprint.of("SELECT * FROM t WHERE id IN (?, ?)"))
                .isEqualTo(Fingerprint.of("select * from t where id in ($1, $2, $3)"));
        // a list holding anything but bare placeholders is kept as written
        assertThat(Fingerprint.of("VALUES (1, now()), (2, now())")).isEqualTo("values (?, now()), (?, now())");
        assertThat(Fingerprint.of("SELECT ?, ?, ? FROM t WHERE (a, b) = (1, 'x')"))
                .isEqualTo("select ?, ?, ? from t where (a, b) = (?, ...)");
    }

    @Test
    void countsStatementsAndRemembersTheFirstWord() {
        Fingerprint.Scan scan = Fingerprint.scan("/* c */ Begin; SELECT 1; ;");
        assertThat(scan.statements()).isEqualTo(2);
        assertThat(scan.firstWord()).isEqualTo("begin");
        assertThat(Fingerprint.scan("(SELECT 1) UNION (SELECT 2)").firstWord()).isEqualTo("(");
        assertThat(Fingerprint.scan(";;").statements()).isZero();
    }

    @Test
    void findsClockWordsInDecodedLiterals() {
        assertThat(Fingerprint.scan("SELECT U&'!006Eow' UESCAPE '!'").timeDependentLiteral()).isTrue();
        assertThat(Fingerprint.scan("SELECT U&'\\006Eow'").timeDependentLiteral()).isTrue();
        assertThat(Fingerprint.scan("SELECT E'\\x6eow'").timeDependentLiteral()).isTrue();
        assertThat(Fingerprint.scan("SELECT 'no'\n  'w'").timeDependentLiteral()).isTrue();
        assertThat(Fingerprint.scan("SELECT '" + " ".repeat(1000) + "now'").timeDependentLiteral()).isTrue();
        assertThat(Fingerprint.scan("SELECT $x$tomorrow$x$").timeDependentLiteral()).isTrue();
        assertThat(Fingerprint.scan("SELECT 'no' || 'w', E'\\x6e', U&'!006E' UESCAPE '!', 'snow'").timeDependentLiteral())
                .isFalse();
    }
}
