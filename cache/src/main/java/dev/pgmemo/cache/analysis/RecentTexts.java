package dev.pgmemo.cache.analysis;

import java.util.function.Function;

/**
 * A direct-mapped memo from exact SQL text to a value computed from it alone: one slot per hash
 * bucket, a newer text replaces an older one. A hit costs a hash and one string comparison, so a
 * repeated query text skips the lexer passes that key the shape memo; a miss costs one slot write
 * and no bookkeeping, so a stream of distinct texts (literals in the SQL) costs next to nothing.
 *
 * <p>Each slot's hash is also kept in an int array read first: a text that is not in the memo (a query
 * with a new literal) is told apart by that array alone, without loading the slot's pair, which after
 * a while lies anywhere in the heap (measured under {@code pgbench -S} in simple mode: the memo cost
 * more than the lexer pass it saves when every text was new).
 *
 * <p>Shared by every event loop without locks: slots hold immutable pairs with final fields, so a
 * reader sees either a whole pair or another slot value, never a torn one; the hash array is only a
 * hint (it may be newer or older than its slot), and a hit is confirmed on the pair itself.
 */
final class RecentTexts<V> {
    /** Texts longer than this are not kept, so the memo holds at most slots × this many chars. */
    static final int MAX_TEXT_LENGTH = 2048;

    private final Slot<V>[] slots;
    private final int[] hashes;

    @SuppressWarnings("unchecked")
    RecentTexts(int slots) {
        if (Integer.bitCount(slots) != 1) {
            throw new IllegalArgumentException("slots must be a power of two: " + slots);
        }
        this.slots = (Slot<V>[]) new Slot<?>[slots];
        this.hashes = new int[slots];
    }

    /** The value for {@code text}, computed by {@code compute} unless this exact text is in its slot. */
    V get(String text, Function<String, V> compute) {
        if (text.length() > MAX_TEXT_LENGTH) {
            return compute.apply(text);
        }
        int h = text.hashCode();
        int index = (h ^ (h >>> 16)) & (slots.length - 1);
        if (hashes[index] == h) {
            // The hash first: texts that differ only in a literal mostly differ in it, and comparing it
            // does not touch the other text's characters.
            Slot<V> slot = slots[index];
            if (slot != null && slot.hash == h && slot.text.equals(text)) {
                return slot.value;
            }
        }
        V value = compute.apply(text);
        slots[index] = new Slot<>(h, text, value);
        hashes[index] = h;
        return value;
    }

    private record Slot<V>(int hash, String text, V value) {}
}
