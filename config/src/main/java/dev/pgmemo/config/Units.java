package dev.pgmemo.config;

import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Parses and formats the durations ({@code 500ms}, {@code 30s}, {@code 5m}, {@code 1h30m}) and byte
 * sizes ({@code 512KiB}, {@code 1MiB}, {@code 10MB}) used in the configuration and on the command line.
 */
public final class Units {
    private static final String DURATION_EXAMPLES = "expected e.g. 500ms, 30s, 5m, 1h";
    private static final String SIZE_EXAMPLES = "expected e.g. 1024, 512KiB, 1MiB, 1GiB";
    private static final Pattern DURATION_PART = Pattern.compile("([0-9]+) *(ms|s|min|m|h|d)");
    private static final Pattern SIZE = Pattern.compile("([0-9]+) *([A-Za-z]*)");
    /** Binary units are 1024-based; SI units (kB, MB, GB, TB) are 1000-based as their names say. */
    private static final Map<String, Long> SIZE_UNITS = Map.of(
            "", 1L, "b", 1L,
            "kib", 1L << 10, "mib", 1L << 20, "gib", 1L << 30, "tib", 1L << 40,
            "kb", 1_000L, "mb", 1_000_000L, "gb", 1_000_000_000L, "tb", 1_000_000_000_000L);

    private Units() {
    }

    /**
     * Parses a non-negative duration: a whole number with unit {@code ms}, {@code s}, {@code m} (or
     * {@code min}), {@code h} or {@code d}, several of them summed ({@code 1h30m}), or a plain whole
     * number of seconds.
     *
     * @throws IllegalArgumentException with a message fit for the operator
     */
    public static Duration parseDuration(String text) {
        String s = text == null ? "" : text.strip();
        if (s.startsWith("-") && s.length() > 1) {
            throw new IllegalArgumentException("invalid duration " + Texts.quote(text) + ": must not be negative");
        }
        if (!s.isEmpty() && s.chars().allMatch(c -> c >= '0' && c <= '9')) {
            return Duration.ofSeconds(parseLong(s, text, "duration"));
        }
        Matcher m = DURATION_PART.matcher(s);
        Duration total = Duration.ZERO;
        int end = 0;
        try {
            while (m.find() && m.start() == end) {
                long n = parseLong(m.group(1), text, "duration");
                Duration part = switch (m.group(2)) {
                    case "ms" -> Duration.ofMillis(n);
                    case "s" -> Duration.ofSeconds(n);
                    case "m", "min" -> Duration.ofMinutes(n);
                    case "h" -> Duration.ofHours(n);
                    default -> Duration.ofDays(n);
                };
                total = total.plus(part);
                end = m.end();
                while (end < s.length() && s.charAt(end) == ' ') {
                    end++;
                }
            }
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException("invalid duration " + Texts.quote(text) + ": too large");
        }
        if (end == 0 || end != s.length()) {
            throw new IllegalArgumentException("invalid duration " + Texts.quote(text) + " (" + DURATION_EXAMPLES + ")");
        }
        return total;
    }

    /**
     * Parses a non-negative byte size: a whole number of bytes, optionally with unit {@code B},
     * {@code KiB}/{@code MiB}/{@code GiB}/{@code TiB} (1024-based) or {@code kB}/{@code MB}/{@code GB}/{@code TB}
     * (1000-based); units are case-insensitive.
     *
     * @throws IllegalArgumentException with a message fit for the operator
     */
    public static long parseSize(String text) {
        String s = text == null ? "" : text.strip();
        if (s.startsWith("-") && s.length() > 1) {
            throw new IllegalArgumentException("invalid size " + Texts.quote(text) + ": must not be negative");
        }
        Matcher m = SIZE.matcher(s);
        Long unit = m.matches() ? SIZE_UNITS.get(m.group(2).toLowerCase(Locale.ROOT)) : null;
        if (unit == null) {
            throw new IllegalArgumentException("invalid size " + Texts.quote(text) + " (" + SIZE_EXAMPLES + ")");
        }
        try {
            return Math.multiplyExact(parseLong(m.group(1), text, "size"), unit);
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException("invalid size " + Texts.quote(text) + ": too large");
        }
    }

    /** Formats a duration in the largest unit that represents it exactly, e.g. {@code 60s} as {@code 1m}. */
    public static String formatDuration(Duration d) {
        long ms = d.toMillis();
        if (ms == 0) {
            return "0s";
        }
        long[] sizes = {86_400_000L, 3_600_000L, 60_000L, 1_000L};
        String[] names = {"d", "h", "m", "s"};
        for (int i = 0; i < sizes.length; i++) {
            if (ms % sizes[i] == 0) {
                return ms / sizes[i] + names[i];
            }
        }
        return ms + "ms";
    }

    /** Formats a size in the largest binary unit that represents it exactly, e.g. {@code 1MiB}. */
    public static String formatSize(long bytes) {
        String[] names = {"TiB", "GiB", "MiB", "KiB"};
        for (int i = 0; i < names.length; i++) {
            long unit = 1L << (10 * (4 - i));
            if (bytes != 0 && bytes % unit == 0) {
                return bytes / unit + names[i];
            }
        }
        return Long.toString(bytes);
    }

    private static long parseLong(String digits, String text, String what) {
        try {
            return Long.parseLong(digits);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("invalid " + what + " " + Texts.quote(text) + ": too large");
        }
    }
}
