package dev.pgmemo.it.cache;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * A minimal PostgreSQL v3 client (trust authentication only) for what pgjdbc cannot send: pipelined
 * requests and Bind messages with a wrong number of parameters. Messages are queued with the builder
 * methods and sent together by {@link #flush()}.
 */
final class WireClient implements AutoCloseable {
    /** One backend message: its type byte and body. */
    record Msg(char type, byte[] body) {
        String text() {
            return new String(body, StandardCharsets.UTF_8);
        }

        /** Columns of a DataRow in text format (null for SQL NULL). */
        List<String> columns() {
            List<String> out = new ArrayList<>();
            int n = ((body[0] & 0xff) << 8) | (body[1] & 0xff);
            int pos = 2;
            for (int i = 0; i < n; i++) {
                int len = ((body[pos] & 0xff) << 24) | ((body[pos + 1] & 0xff) << 16) | ((body[pos + 2] & 0xff) << 8)
                        | (body[pos + 3] & 0xff);
                pos += 4;
                if (len < 0) {
                    out.add(null);
                } else {
                    out.add(new String(body, pos, len, StandardCharsets.UTF_8));
                    pos += len;
                }
            }
            return out;
        }

        /** The SQLSTATE of an ErrorResponse or NoticeResponse. */
        String sqlState() {
            return field('C');
        }

        String field(char code) {
            int pos = 0;
            while (pos < body.length && body[pos] != 0) {
                char c = (char) body[pos++];
                int end = pos;
                while (body[end] != 0) {
                    end++;
                }
                if (c == code) {
                    return new String(body, pos, end - pos, StandardCharsets.UTF_8);
                }
                pos = end + 1;
            }
            return null;
        }

        @Override
        public String toString() {
            return switch (type) {
                case 'D' -> "DataRow" + columns();
                case 'E', 'N' -> (type == 'E' ? "Error(" : "Notice(") + sqlState() + " " + field('M') + ")";
                case 'C' -> "CommandComplete(" + text().replace("\0", "") + ")";
                case 'Z' -> "ReadyForQuery(" + (char) body[0] + ")";
                default -> String.valueOf(type);
            };
        }
    }

    private final Socket socket;
    private final DataInputStream in;
    private final OutputStream out;
    private final ByteArrayOutputStream queued = new ByteArrayOutputStream();

    WireClient(int port, String user, String database) throws IOException {
        socket = new Socket();
        socket.connect(new InetSocketAddress("127.0.0.1", port), 5000);
        socket.setSoTimeout(20_000);
        socket.setTcpNoDelay(true);
        in = new DataInputStream(socket.getInputStream());
        out = socket.getOutputStream();
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        writeInt(body, 196608);
        for (String s : new String[] {"user", user, "database", database, "client_encoding", "UTF8"}) {
            cstring(body, s);
        }
        body.write(0);
        ByteArrayOutputStream startup = new ByteArrayOutputStream();
        writeInt(startup, body.size() + 4);
        startup.write(body.toByteArray());
        out.write(startup.toByteArray());
        out.flush();
        for (Msg m : readUntilReady()) {
            if (m.type() == 'E') {
                throw new IOException("startup failed: " + m);
            }
            if (m.type() == 'R' && m.body()[3] != 0) {
                throw new IOException("only trust authentication is supported here");
            }
        }
    }

    WireClient query(String sql) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        cstring(b, sql);
        return message('Q', b);
    }

    WireClient parse(String name, String sql, int... paramTypes) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        cstring(b, name);
        cstring(b, sql);
        writeShort(b, paramTypes.length);
        for (int t : paramTypes) {
            writeInt(b, t);
        }
        return message('P', b);
    }

    /** Bind with text-format parameters (null = SQL NULL) and text results. */
    WireClient bind(String portal, String statement, String... values) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        cstring(b, portal);
        cstring(b, statement);
        writeShort(b, 0);
        writeShort(b, values.length);
        for (String v : values) {
            if (v == null) {
                writeInt(b, -1);
            } else {
                byte[] bytes = v.getBytes(StandardCharsets.UTF_8);
                writeInt(b, bytes.length);
                b.writeBytes(bytes);
            }
        }
        writeShort(b, 0);
        return message('B', b);
    }

    /** Bind with the given parameter format codes (whatever their count) and text values. */
    WireClient bindRaw(String portal, String statement, short[] formats, String... values) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        cstring(b, portal);
        cstring(b, statement);
        writeShort(b, formats.length);
        for (short f : formats) {
            writeShort(b, f);
        }
        writeShort(b, values.length);
        for (String v : values) {
            byte[] bytes = v.getBytes(StandardCharsets.UTF_8);
            writeInt(b, bytes.length);
            b.writeBytes(bytes);
        }
        writeShort(b, 0);
        return message('B', b);
    }

    /** A Query whose text is these bytes exactly (say, not valid UTF-8). */
    WireClient queryBytes(byte[] sql) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.writeBytes(sql);
        b.write(0);
        return message('Q', b);
    }

    /** Closes the socket without a Terminate (a client that died). */
    void closeAbruptly() throws IOException {
        socket.close();
    }

    /** Sends what is queued, then shuts down the sending side of the socket. */
    void shutdownOutput() throws IOException {
        flush();
        socket.shutdownOutput();
    }

    /** Reads until the server closes the connection; false if it is still open after 10 seconds. */
    boolean readToEnd() throws IOException {
        socket.setSoTimeout(10_000);
        try {
            while (in.read() >= 0) {
                // discard
            }
            return true;
        } catch (java.net.SocketTimeoutException e) {
            return false;
        } catch (java.net.SocketException e) {
            return true; // reset: closed too
        }
    }

    WireClient describePortal(String portal) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.write('P');
        cstring(b, portal);
        return message('D', b);
    }

    WireClient execute(String portal) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        cstring(b, portal);
        writeInt(b, 0);
        return message('E', b);
    }

    WireClient copyData(String text) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.writeBytes(text.getBytes(StandardCharsets.UTF_8));
        return message('d', b);
    }

    /** The protocol's Flush message ('H'), not a socket flush. */
    WireClient flushMessage() {
        return message('H', new ByteArrayOutputStream());
    }

    WireClient copyDone() {
        return message('c', new ByteArrayOutputStream());
    }

    WireClient copyFail(String reason) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        cstring(b, reason);
        return message('f', b);
    }

    /** Close of a prepared statement ('S') or a portal ('P'). */
    WireClient close(char kind, String name) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.write(kind);
        cstring(b, name);
        return message('C', b);
    }

    WireClient sync() {
        return message('S', new ByteArrayOutputStream());
    }

    /** Sends everything queued in one write. */
    WireClient flush() throws IOException {
        out.write(queued.toByteArray());
        out.flush();
        queued.reset();
        return this;
    }

    /** Reads messages up to and including the next ReadyForQuery. */
    List<Msg> readUntilReady() throws IOException {
        List<Msg> msgs = new ArrayList<>();
        while (true) {
            Msg m = read();
            msgs.add(m);
            if (m.type() == 'Z') {
                return msgs;
            }
        }
    }

    Msg read() throws IOException {
        char type = (char) in.readUnsignedByte();
        int len = in.readInt();
        byte[] body = new byte[len - 4];
        in.readFully(body);
        return new Msg(type, body);
    }

    @Override
    public void close() throws IOException {
        try {
            out.write(new byte[] {'X', 0, 0, 0, 4});
            out.flush();
        } catch (IOException ignored) {
            // the server may already have gone
        }
        socket.close();
    }

    private WireClient message(char type, ByteArrayOutputStream body) {
        queued.write(type);
        writeInt(queued, body.size() + 4);
        queued.writeBytes(body.toByteArray());
        return this;
    }

    private static void cstring(ByteArrayOutputStream b, String s) {
        b.writeBytes(s.getBytes(StandardCharsets.UTF_8));
        b.write(0);
    }

    private static void writeInt(ByteArrayOutputStream b, int v) {
        b.write(v >>> 24);
        b.write(v >>> 16);
        b.write(v >>> 8);
        b.write(v);
    }

    private static void writeShort(ByteArrayOutputStream b, int v) {
        b.write(v >>> 8);
        b.write(v);
    }
}
