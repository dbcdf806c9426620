package dev.pgmemo.config;

import java.util.Locale;

/** How pgmemo uses TLS towards PostgreSQL, with libpq's {@code sslmode} names and meanings. */
public enum SslMode {
    DISABLE,
    PREFER,
    REQUIRE,
    VERIFY_CA,
    VERIFY_FULL;

    /** The libpq spelling: {@code disable}, {@code prefer}, {@code require}, {@code verify-ca}, {@code verify-full}. */
    public String libpqName() {
        return name().toLowerCase(Locale.ROOT).replace('_', '-');
    }

    /**
     * Parses a libpq sslmode name. libpq's {@code allow} is not offered: it tries plain text first,
     * which a proxy should never prefer over TLS.
     *
     * @throws IllegalArgumentException naming the accepted values
     */
    public static SslMode fromLibpqName(String name) {
        for (SslMode mode : values()) {
            if (mode.libpqName().equals(name)) {
                return mode;
            }
        }
        String hint = "";
        if (name != null) {
            String folded = name.toLowerCase(Locale.ROOT).replace('_', '-');
            for (SslMode mode : values()) {
                if (mode.libpqName().equals(folded)) {
                    hint = " (did you mean " + mode.libpqName() + "?)";
                }
            }
        }
        throw new IllegalArgumentException("invalid sslmode " + Texts.quote(name)
                + ": expected disable, prefer, require, verify-ca or verify-full" + hint);
    }
}
