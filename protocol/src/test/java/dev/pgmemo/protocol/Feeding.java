package dev.pgmemo.protocol;

import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.embedded.EmbeddedChannel;
import java.util.ArrayList;
import java.util.List;

/** How test input reaches a decoder: the whole chunk in one read, or one read per byte (the worst TCP can do). */
enum Feeding {
    ALL_AT_ONCE {
        @Override
        void feed(EmbeddedChannel channel, byte[] bytes) {
            if (bytes.length > 0) {
                channel.writeInbound(ByteBufAllocator.DEFAULT.buffer(bytes.length).writeBytes(bytes));
            }
        }
    },
    ONE_BYTE_AT_A_TIME {
        @Override
        void feed(EmbeddedChannel channel, byte[] bytes) {
            for (byte b : bytes) {
                channel.writeInbound(ByteBufAllocator.DEFAULT.buffer(1).writeByte(b));
            }
        }
    };

    /** Writes {@code bytes} inbound; the pooled buffers written are owned by the pipeline from then on. */
    abstract void feed(EmbeddedChannel channel, byte[] bytes);

    /** Everything the pipeline has emitted inbound so far. */
    static List<Object> drainInbound(EmbeddedChannel channel) {
        List<Object> out = new ArrayList<>();
        Object o;
        while ((o = channel.readInbound()) != null) {
            out.add(o);
        }
        return out;
    }
}
