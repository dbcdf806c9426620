package dev.pgmemo.cache.analysis;

import java.util.Set;

/**
 * Vetted lists of PostgreSQL built-in functions (pg_proc.provolatile, see
 * https://www.postgresql.org/docs/current/xfunc-volatility.html).
 *
 * <p>{@link Volatility#IMMUTABLE} here means "safe to cache under pgmemo's cache key": IMMUTABLE
 * in pg_proc, or STABLE only through settings that are part of the key (TimeZone, DateStyle,
 * IntervalStyle), like {@code date_trunc(text, timestamptz)} or {@code generate_series} over
 * timestamptz. Functions that are STABLE for other reasons stay out: {@code concat},
 * {@code concat_ws}, {@code format} and {@code array_to_string} call type output functions,
 * {@code to_char} and friends depend on lc_* settings, {@code age(ts)} on the current date.
 * Names in neither list are unknown: the proxy checks them in pg_proc.
 */
public final class Functions {

    /** What pgmemo knows about a function name. */
    public enum Volatility {
        /** Result depends only on arguments and keyed settings. */
        IMMUTABLE,
        /** STABLE or VOLATILE, but does not modify relations: the query is not cacheable. */
        NOT_IMMUTABLE,
        /** VOLATILE and may modify data (large objects, dblink): not cacheable, unknown writes. */
        WRITES,
        /** Not vetted: look it up in pg_proc. */
        UNKNOWN
    }

    private static final Set<String> IMMUTABLE = Set.of(
            // aggregates
            "count", "sum", "avg", "min", "max", "array_agg", "string_agg", "bool_and", "bool_or",
            "every", "bit_and", "bit_or", "bit_xor", "stddev", "stddev_pop", "stddev_samp", "variance",
            "var_pop", "var_samp", "corr", "covar_pop", "covar_samp", "regr_avgx", "regr_avgy",
            "regr_count", "regr_intercept", "regr_r2", "regr_slope", "regr_sxx", "regr_sxy", "regr_syy",
            "mode", "percentile_cont", "percentile_disc", "any_value", "range_agg", "range_intersect_agg",
            // window functions
            "row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile", "lag", "lead",
            "first_value", "last_value", "nth_value",
            // expressions with function syntax
            "coalesce", "nullif", "greatest", "least", "grouping", "array", "row", "any", "all", "some",
            "position",
            "substring", "overlay", "trim", "extract",
            // math
            "abs", "ceil", "ceiling", "floor", "round", "trunc", "sign", "sqrt", "cbrt", "exp", "ln",
            "log", "log10", "power", "pow", "mod", "div", "degrees", "radians", "pi", "gcd", "lcm",
            "factorial", "width_bucket", "scale", "min_scale", "trim_scale", "sin", "cos", "tan", "cot",
            "asin", "acos", "atan", "atan2", "sind", "cosd", "tand", "cotd", "asind", "acosd", "atand",
            "atan2d", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "erf", "erfc",
            // strings
            "lower", "upper", "initcap", "length", "char_length", "character_length", "octet_length",
            "bit_length", "substr", "left", "right", "lpad", "rpad", "ltrim", "rtrim", "btrim", "replace",
            "reverse", "repeat", "split_part", "strpos", "translate", "ascii", "chr", "md5", "sha224",
            "sha256", "sha384", "sha512", "encode", "decode", "starts_with", "regexp_replace",
            "regexp_match", "regexp_matches", "regexp_split_to_array", "regexp_split_to_table",
            "regexp_count", "regexp_instr", "regexp_like", "regexp_substr", "quote_ident", "to_hex",
            "string_to_array", "string_to_table", "normalize", "unistr",
            // arrays
            "array_length", "array_upper", "array_lower", "array_dims", "array_ndims", "cardinality",
            "array_position", "array_positions", "array_append", "array_prepend", "array_cat",
            "array_remove", "array_replace", "array_fill", "unnest", "generate_subscripts", "trim_array",
            // ranges
            "isempty", "lower_inc", "upper_inc", "lower_inf", "upper_inf", "range_merge", "int4range",
            "int8range", "numrange", "daterange", "tsrange", "tstzrange",
            // date/time (STABLE at most through TimeZone/DateStyle/IntervalStyle, all in the key)
            "date_trunc", "date_part", "date_bin", "make_date", "make_time", "make_timestamp",
            "make_timestamptz", "make_interval", "justify_days", "justify_hours", "justify_interval",
            "isfinite", "generate_series", "timezone",
            // json(b) accessors
            "jsonb_extract_path", "jsonb_extract_path_text", "json_extract_path", "json_extract_path_text",
            "jsonb_array_length", "json_array_length", "jsonb_typeof", "json_typeof",
            "jsonb_array_elements", "jsonb_array_elements_text", "json_array_elements",
            "json_array_elements_text", "jsonb_each", "jsonb_each_text", "json_each", "json_each_text",
            "jsonb_object_keys", "json_object_keys", "jsonb_set", "jsonb_insert", "jsonb_strip_nulls",
            "json_strip_nulls", "jsonb_pretty", "jsonb_exists",
            // misc
            "num_nonnulls", "num_nulls");

    private static final Set<String> NOT_IMMUTABLE = Set.of(
            // time of the statement / transaction / wall clock
            "now", "current_timestamp", "current_date", "current_time", "localtime", "localtimestamp",
            "clock_timestamp", "statement_timestamp", "transaction_timestamp", "timeofday", "age",
            // randomness
            "random", "random_normal", "setseed", "gen_random_uuid", "uuidv4", "uuidv7", "array_shuffle",
            "array_sample",
            // sequences (they change sequence state, not table data)
            "nextval", "currval", "lastval", "setval",
            // session state
            "current_setting", "set_config", "current_user", "session_user", "user", "current_role",
            "current_schema", "current_schemas", "current_catalog", "current_database", "current_query",
            "system_user", "pg_backend_pid", "inet_client_addr", "inet_client_port", "inet_server_addr",
            "inet_server_port", "version", "pg_postmaster_start_time", "pg_conf_load_time",
            "pg_is_in_recovery", "pg_trigger_depth", "pg_listening_channels",
            "pg_notification_queue_usage", "pg_blocking_pids", "pg_my_temp_schema",
            "pg_is_other_temp_schema", "pg_jit_available", "pg_notify", "pg_export_snapshot",
            "pg_has_role", "row_security_active", "pg_typeof",
            // depend on lc_* settings or call type output functions
            "to_char", "to_date", "to_timestamp", "to_number", "concat", "concat_ws", "format",
            "array_to_string", "quote_literal", "quote_nullable",
            // catalog and size lookups
            "pg_relation_size", "pg_total_relation_size", "pg_table_size", "pg_indexes_size",
            "pg_database_size", "pg_tablespace_size", "pg_column_size", "obj_description",
            "col_description", "shobj_description", "format_type", "to_regclass", "to_regtype",
            "to_regproc", "to_regnamespace", "to_regrole",
            // server administration
            "pg_cancel_backend", "pg_terminate_backend", "pg_reload_conf", "pg_rotate_logfile",
            "pg_switch_wal", "pg_create_restore_point", "pg_promote");

    private static final String[] NOT_IMMUTABLE_PREFIXES = {
        "uuid_generate_", "txid_", "pg_current_", "pg_sleep", "pg_advisory_", "pg_try_advisory_",
        "pg_stat_", "pg_get_"
    };

    private static final Set<String> WRITES = Set.of("lowrite", "pg_file_write", "pg_file_unlink",
            "pg_file_rename", "pg_import_system_collations");

    private static final String[] WRITES_PREFIXES = {"dblink", "lo_"};

    /** SQL keywords that call a session-dependent function without parentheses. */
    private static final Set<String> SESSION_KEYWORDS = Set.of("current_date", "current_time",
            "current_timestamp", "localtime", "localtimestamp", "current_user", "current_role",
            "session_user", "user", "current_catalog", "current_schema", "system_user");

    private Functions() {
    }

    /**
     * Classifies a lower-cased function name; {@code pg_catalog.} is ignored, any other schema
     * makes the name {@link Volatility#UNKNOWN} (it is not the built-in).
     */
    public static Volatility classify(String name) {
        String n = name;
        if (n.startsWith("pg_catalog.")) {
            n = n.substring("pg_catalog.".length());
        } else if (n.indexOf('.') >= 0) {
            return Volatility.UNKNOWN;
        }
        if (WRITES.contains(n) || startsWithAny(n, WRITES_PREFIXES)) {
            return Volatility.WRITES;
        }
        if (NOT_IMMUTABLE.contains(n) || startsWithAny(n, NOT_IMMUTABLE_PREFIXES)
                || (n.startsWith("has_") && n.endsWith("_privilege"))) {
            return Volatility.NOT_IMMUTABLE;
        }
        if (IMMUTABLE.contains(n)) {
            return Volatility.IMMUTABLE;
        }
        return Volatility.UNKNOWN;
    }

    /**
     * True for the SQL keywords that are session- or time-dependent function calls without
     * parentheses ({@code CURRENT_USER}, {@code CURRENT_TIMESTAMP}, {@code USER}...), given the
     * lower-cased unquoted word.
     */
    public static boolean isSessionKeyword(String lowerCaseWord) {
        return SESSION_KEYWORDS.contains(lowerCaseWord);
    }

    private static boolean startsWithAny(String name, String[] prefixes) {
        for (String prefix : prefixes) {
            if (name.startsWith(prefix)) {
                return true;
            }
        }
        return false;
    }
}
