package dev.pgmemo.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;
import java.util.List;

/**
 * Frames the startup phase: one {@link StartupPacket} per decode, nothing more, so that the bytes after it
 * (a TLS handshake, or typed messages) are left for whatever the pipeline becomes next. A packet with an
 * impossible length yields {@link StartupPacket.Invalid} and the decoder then discards all further input.
 */
public final class StartupDecoder extends ByteToMessageDecoder {
    private boolean failed;

    public StartupDecoder() {
        setSingleDecode(true);
    }

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
        if (failed) {
            in.skipBytes(in.readableBytes());
            return;
        }
        if (in.readableBytes() < 4) {
            return;
        }
        int length = in.getInt(in.readerIndex());
        // PostgreSQL checks the length without its own 4 bytes against MAX_STARTUP_PACKET_LENGTH.
        if (length < 8 || length - 4 > StartupPacket.MAX_STARTUP_PACKET_LENGTH) {
            failed = true;
            in.skipBytes(in.readableBytes());
            out.add(new StartupPacket.Invalid(SqlState.PROTOCOL_VIOLATION, "invalid length of startup packet"));
            return;
        }
        if (in.readableBytes() < length) {
            return;
        }
        out.add(StartupPacket.decode(in, length));
    }

    /**
     * The client closed its side in the middle of a packet: report it (PostgreSQL logs "incomplete startup
     * packet"), so the client, if it still reads, gets an error rather than a silent close.
     */
    @Override
    protected void decodeLast(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) throws Exception {
        if (!failed && in.isReadable()) {
            int before = out.size();
            decode(ctx, in, out);
            if (out.size() == before && in.isReadable()) {
                failed = true;
                in.skipBytes(in.readableBytes());
                out.add(new StartupPacket.Invalid(SqlState.PROTOCOL_VIOLATION, "incomplete startup packet"));
            }
        }
    }

    /** True if part of a packet has been received but not yet its end. */
    public boolean hasPartialPacket() {
        return actualReadableBytes() > 0;
    }
}
