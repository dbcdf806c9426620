package dev.pgmemo.protocol;

import io.netty.buffer.ByteBuf;

/**
 * Finds the typed messages (type byte, Int32 length including itself, body) in a stream of buffers without
 * copying or allocating: for a relay that forwards each buffer whole and only needs to know which messages went
 * by. A message's header and first body byte may be split across buffers; the scanner keeps that state between
 * calls. The length checks are those of {@link FrameDecoder}; after a bad length the scanner stops for good.
 */
public final class FrameScanner {
    /** What a relay learns of each message: its type and its first body byte. */
    public interface Listener {
        /**
         * A message goes by. {@code firstByte} is its first body byte (0-255; the status of a ReadyForQuery), or -1
         * when the body is empty. Return true to stop scanning right after this message (Terminate).
         */
        boolean onMessage(byte type, int firstByte);
    }

    private final long maxMessageSize;
    /** Header bytes of the current message seen so far (0-5); 5 = header complete, first body byte pending. */
    private int headerBytes;
    private byte type;
    private long length;
    /** Body bytes of the current message still to pass, after its first one. */
    private long remaining;
    private String error;

    public FrameScanner(long maxMessageSize) {
        this.maxMessageSize = maxMessageSize;
    }

    /**
     * Scans the readable bytes of {@code buf} (indices are not moved) and reports each message whose header and
     * first body byte are complete. Returns {@code buf.writerIndex()} when every byte belongs to valid messages
     * (the last one may continue in the next buffer); the index just after a message the listener stopped at
     * (or the writer index, if that message continues in later buffers); or, after a bad length, the index where
     * that message's header starts in this buffer (or its reader index, when the header began in an earlier one),
     * with {@link #error()} set. Bytes from the returned index on are not the relay's to forward.
     */
    public int scan(ByteBuf buf, Listener listener) {
        int i = buf.readerIndex();
        final int end = buf.writerIndex();
        if (error != null) {
            return i;
        }
        while (i < end) {
            if (remaining > 0) {
                long n = Math.min(remaining, end - i);
                i += (int) n;
                remaining -= n;
                continue;
            }
            if (headerBytes == 0 && end - i >= 6) {
                // Common case: the whole header and the first body byte are in this buffer.
                byte t = buf.getByte(i);
                long len = buf.getUnsignedInt(i + 1);
                String bad = FrameDecoder.lengthError(t, len, maxMessageSize);
                if (bad != null) {
                    error = bad;
                    return i;
                }
                int first = len > 4 ? buf.getUnsignedByte(i + 5) : -1;
                long body = len - 4;
                i += 5;
                long avail = end - i;
                if (body <= avail) {
                    i += (int) body;
                } else {
                    remaining = body - avail;
                    i = end;
                }
                if (listener.onMessage(t, first)) {
                    return i;
                }
                continue;
            }
            // A header, or the first body byte, split across buffers: one byte at a time.
            int b = buf.getUnsignedByte(i++);
            if (headerBytes == 0) {
                type = (byte) b;
                length = 0;
                headerBytes = 1;
            } else if (headerBytes < 5) {
                length = (length << 8) | b;
                if (++headerBytes == 5) {
                    String bad = FrameDecoder.lengthError(type, length, maxMessageSize);
                    if (bad != null) {
                        error = bad;
                        headerBytes = 0;
                        int start = i - 5;
                        return Math.max(start, buf.readerIndex());
                    }
                    if (length == 4) {
                        headerBytes = 0;
                        if (listener.onMessage(type, -1)) {
                            return i;
                        }
                    }
                }
            } else {
                // headerBytes == 5: b is the first body byte.
                headerBytes = 0;
                remaining = length - 5;
                boolean stop = listener.onMessage(type, b);
                if (stop) {
                    long avail = end - i;
                    if (remaining <= avail) {
                        i += (int) remaining;
                        remaining = 0;
                        return i;
                    }
                    remaining -= avail;
                    return end;
                }
            }
        }
        return end;
    }

    /** Why scanning stopped for good (a bad message length), or null. */
    public String error() {
        return error;
    }
}
