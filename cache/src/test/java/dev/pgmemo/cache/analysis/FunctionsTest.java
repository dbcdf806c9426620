package dev.pgmemo.cache.analysis;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pgmemo.cache.analysis.Functions.Volatility;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class FunctionsTest {

    @ParameterizedTest
    @CsvSource({
        "lower, IMMUTABLE",
        "count, IMMUTABLE",
        "coalesce, IMMUTABLE",
        "date_trunc, IMMUTABLE",
        "pg_catalog.upper, IMMUTABLE",
        "now, NOT_IMMUTABLE",
        "pg_catalog.now, NOT_IMMUTABLE",
        "random, NOT_IMMUTABLE",
        "concat, NOT_IMMUTABLE",
        "format, NOT_IMMUTABLE",
        "to_char, NOT_IMMUTABLE",
        "age, NOT_IMMUTABLE",
        "current_user, NOT_IMMUTABLE",
        "nextval, NOT_IMMUTABLE",
        "uuid_generate_v1mc, NOT_IMMUTABLE",
        "pg_sleep_for, NOT_IMMUTABLE",
        "pg_try_advisory_xact_lock, NOT_IMMUTABLE",
        "has_table_privilege, NOT_IMMUTABLE",
        "lo_import, WRITES",
        "dblink_exec, WRITES",
        "my_func, UNKNOWN",
        "has_access, UNKNOWN",
        "public.lower, UNKNOWN",
        "jsonb_build_object, UNKNOWN",
    })
    void classifiesFunctionNames(String name, Volatility expected) {
        assertThat(Functions.classify(name)).isEqualTo(expected);
    }

    @ParameterizedTest
    @CsvSource({
        "current_user, true",
        "session_user, true",
        "user, true",
        "current_timestamp, true",
        "localtime, true",
        "current_schema, true",
        "now, false",
        "users, false",
    })
    void knowsTheSessionKeywords(String word, boolean expected) {
        assertThat(Functions.isSessionKeyword(word)).isEqualTo(expected);
    }
}
