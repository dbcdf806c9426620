package dev.pgmemo.proxy.cache;

import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.TreeSet;

/**
 * The settings, beyond the fixed list of {@link SessionContext}, that some cached relation's row-level security
 * policy or view reads with {@code current_setting('name')} (typically {@code app.tenant}). PostgreSQL cannot
 * list custom settings, so pgmemo learns their names from the catalog and from then on reads exactly these in
 * every session's context query. Names are only added, and at most {@link #MAX} of them, so a context read
 * once holds every name registered before it. Thread-safe.
 */
public final class CustomSettings {

    /** More names than this and further relations that need one are simply not cached. */
    public static final int MAX = 64;

    private volatile List<String> names = List.of();

    /** The registered names, sorted and lower-cased (setting names are case-insensitive). */
    public List<String> names() {
        return names;
    }

    /** Adds names; false (and nothing added) if that would exceed {@link #MAX}. */
    public synchronized boolean register(Collection<String> wanted) {
        TreeSet<String> all = new TreeSet<>(names);
        for (String n : wanted) {
            all.add(normalize(n));
        }
        if (all.size() > MAX) {
            return false;
        }
        if (all.size() != names.size()) {
            names = List.copyOf(all);
        }
        return true;
    }

    public static String normalize(String name) {
        return name.toLowerCase(Locale.ROOT);
    }
}
