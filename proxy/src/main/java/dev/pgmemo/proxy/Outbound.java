package dev.pgmemo.proxy;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;

/**
 * The write side of one channel of a session. Small messages written between two flushes are copied into one
 * buffer, so a reply of several messages (RowDescription, DataRow, CommandComplete, ReadyForQuery) costs the
 * channel one outbound entry and one send instead of one each: copying a few hundred bytes is cheaper than
 * the pipeline pass, the outbound-buffer entry and the pending-bytes accounting Netty does per write. Large
 * messages are written as they are, after whatever was gathered before them, so the order never changes.
 *
 * <p>Event-loop confined, like the session. The gathered bytes are at most {@link #GATHER_LIMIT}, and they
 * reach the channel (where its write-buffer water marks see them) at the next {@link #flush} or
 * {@link #drain}.
 */
final class Outbound {
    /** Messages up to this size are copied; larger ones are written as they are. */
    static final int COPY_LIMIT = 2048;
    /** Gathered bytes are handed to the channel once they would exceed this. */
    static final int GATHER_LIMIT = 16 * 1024;

    private final Channel channel;
    private ByteBuf gathered;
    /** After {@link #close}: nothing is gathered any more, writes go straight to the channel (which drops them once closed). */
    private boolean closed;

    Outbound(Channel channel) {
        this.channel = channel;
    }

    Channel channel() {
        return channel;
    }

    /** Queues a message (takes ownership of it). */
    void write(ByteBuf msg) {
        int n = msg.readableBytes();
        if (n > COPY_LIMIT || closed) {
            drain();
            channel.write(msg, channel.voidPromise());
            return;
        }
        if (gathered != null && gathered.readableBytes() + n > GATHER_LIMIT) {
            drain();
            if (closed) {
                // That write failed and closed the session (exceptionCaught): gather nothing more.
                channel.write(msg, channel.voidPromise());
                return;
            }
        }
        if (gathered == null) {
            gathered = channel.alloc().ioBuffer(Math.max(512, n));
        }
        gathered.writeBytes(msg, msg.readerIndex(), n);
        msg.release();
    }

    /** Queues a buffer as it is, after what was gathered (takes ownership of it). */
    void writeWhole(ByteBuf buf) {
        drain();
        channel.write(buf, channel.voidPromise());
    }

    /** Hands the gathered bytes to the channel without flushing it. */
    void drain() {
        ByteBuf b = gathered;
        if (b != null) {
            gathered = null;
            channel.write(b, channel.voidPromise());
        }
    }

    void flush() {
        drain();
        channel.flush();
    }

    /** The session is closing: hands the gathered bytes to the channel (which releases them if it is closed) and gathers no more. */
    void close() {
        drain();
        closed = true;
    }
}
