package dev.pgmemo.proxy.cache;

import dev.pgmemo.protocol.BackendMessage;
import io.netty.buffer.ByteBuf;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Everything about a session that can change a query's result or its text, read from the server itself
 * (so SET, SET ROLE, RESET, DISCARD and ALTER ROLE ... SET defaults are all followed exactly, never guessed).
 * It is part of every cache key.
 */
public record SessionContext(String database, String currentUser, String sessionUser, String searchPath,
                             String defaultIsolation, boolean hasTempSchema, byte[] keyBytes) {

    /** Settings that change results or their text; all go into the key. */
    private static final String[] SETTINGS = {
        "search_path", "TimeZone", "DateStyle", "IntervalStyle", "client_encoding", "extra_float_digits",
        "bytea_output", "standard_conforming_strings", "lc_monetary", "lc_numeric", "lc_time", "lc_messages",
        "default_transaction_isolation", "default_transaction_read_only", "row_security", "transform_null_equals",
        "array_nulls", "timezone_abbreviations", "xmlbinary", "xmloption", "default_text_search_config",
        "backslash_quote", "escape_string_warning", "session_replication_role", "quote_all_identifiers",
        "max_identifier_length", "server_version_num",
    };

    /**
     * The query that reads the context: one row. Column 0..3 are database, current_user, session_user and
     * whether the session has a temporary schema; then SETTINGS in order. Custom settings (app.tenant) cannot
     * be listed from SQL (placeholders are hidden from pg_settings), so relations whose row-level security
     * policies call functions such as current_setting() are never cached (see Catalog).
     */
    public static String query() {
        StringBuilder sb = new StringBuilder("SELECT current_database(), current_user, session_user, (pg_catalog.pg_my_temp_schema() <> 0)::text");
        for (String s : SETTINGS) {
            sb.append(", pg_catalog.current_setting('").append(s).append("')");
        }
        return sb.toString();
    }

    /** Builds the context from the DataRow of {@link #query()}. */
    public static SessionContext fromRow(ByteBuf dataRow) {
        String[] cols = BackendMessage.dataRowText(dataRow);
        if (cols.length != 4 + SETTINGS.length) {
            throw new IllegalStateException("unexpected context row with " + cols.length + " columns");
        }
        StringBuilder key = new StringBuilder();
        for (String c : cols) {
            key.append(c == null ? "\u0000N" : c.replace("\u0000", "")).append('\u0000');
        }
        String searchPath = cols[4];
        String isolation = cols[4 + 12];
        return new SessionContext(cols[0], cols[1], cols[2], searchPath, isolation, "true".equals(cols[3]),
                key.toString().getBytes(StandardCharsets.UTF_8));
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof SessionContext other && Arrays.equals(keyBytes, other.keyBytes);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(keyBytes);
    }
}
