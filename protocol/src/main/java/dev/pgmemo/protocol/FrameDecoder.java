package dev.pgmemo.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;
import java.util.List;

/**
 * Splits a stream of typed messages (type byte, Int32 length including itself, body) into one retained
 * {@link ByteBuf} per message, holding the complete original bytes. Nothing is decoded here. A length below 4
 * or above the configured maximum yields a {@link FrameError} and all later input is discarded: after a bad
 * length the stream cannot be resynchronised (PostgreSQL closes the connection too).
 */
public final class FrameDecoder extends ByteToMessageDecoder {
    /** 1 GiB: a little above PostgreSQL's own PQ_LARGE_MESSAGE_LIMIT (1 GiB - 2 bytes of body). */
    public static final long DEFAULT_MAX_MESSAGE_SIZE = 1L << 30;

    private final long maxMessageSize;
    private boolean failed;

    public FrameDecoder(long maxMessageSize) {
        this.maxMessageSize = maxMessageSize;
    }

    /** A message that cannot be framed: the type byte and the declared length. */
    public record FrameError(byte type, long declaredLength, String message) {
    }

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
        if (failed) {
            in.skipBytes(in.readableBytes());
            return;
        }
        while (in.readableBytes() >= 5) {
            int start = in.readerIndex();
            byte type = in.getByte(start);
            long length = in.getUnsignedInt(start + 1);
            String bad = lengthError(type, length, maxMessageSize);
            if (bad != null) {
                failed = true;
                in.skipBytes(in.readableBytes());
                out.add(new FrameError(type, length, bad));
                return;
            }
            long total = length + 1;
            if (in.readableBytes() < total) {
                return;
            }
            out.add(in.retainedSlice(start, (int) total));
            in.skipBytes((int) total);
        }
    }

    /** Why a message of this type and declared length cannot be framed, or null when it can. */
    static String lengthError(byte type, long length, long maxMessageSize) {
        if (length >= 4 && length <= maxMessageSize) {
            return null;
        }
        return length < 4
                ? "invalid message length " + length + " for message type '" + printable(type) + "'"
                : "message of type '" + printable(type) + "' is " + length + " bytes, above the limit of " + maxMessageSize;
    }

    private static String printable(byte type) {
        return type >= 0x20 && type < 0x7f ? String.valueOf((char) type) : String.format("\\x%02x", type & 0xff);
    }
}
