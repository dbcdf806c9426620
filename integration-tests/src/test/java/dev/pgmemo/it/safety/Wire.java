package dev.pgmemo.it.safety;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/**
 * A minimal PostgreSQL v3 frontend on a raw socket, for byte-exact comparisons between pgmemo and PostgreSQL
 * and for pipelining several requests in one write, which pgjdbc does not do. Trust authentication only.
 */
final class Wire implements AutoCloseable {

    /** One backend message: its type byte and body (without the length). */
    record Msg(char type, byte[] body) {
        /** The first NUL-terminated string of the body (CommandComplete tag), or the SQLSTATE of an error. */
        String text() {
            if (type == 'E' || type == 'N') {
                return field('C');
            }
            int end = 0;
            while (end < body.length && body[end] != 0) {
                end++;
            }
            return new String(body, 0, end, StandardCharsets.UTF_8);
        }

        /** A field of an ErrorResponse / NoticeResponse. */
        String field(char code) {
            int i = 0;
            while (i < body.length && body[i] != 0) {
                char c = (char) body[i];
                int end = i + 1;
                while (body[end] != 0) {
                    end++;
                }
                if (c == code) {
                    return new String(body, i + 1, end - i - 1, StandardCharsets.UTF_8);
                }
                i = end + 1;
            }
            return null;
        }

        /** DataRow columns as text (text format). */
        List<String> columns() {
            ByteBuffer b = ByteBuffer.wrap(body);
            int n = b.getShort();
            List<String> out = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                int len = b.getInt();
                if (len < 0) {
                    out.add(null);
                } else {
                    byte[] v = new byte[len];
                    b.get(v);
                    out.add(new String(v, StandardCharsets.UTF_8));
                }
            }
            return out;
        }

        /** Type and body, hex: a byte-exact image for comparisons. */
        String image() {
            return type + ":" + HexFormat.of().formatHex(body);
        }

        /** Readable summary for assertion messages. */
        String summary() {
            return switch (type) {
                case 'D' -> "D" + columns();
                case 'C' -> "C(" + text() + ")";
                case 'E' -> "E(" + field('C') + " " + field('M') + ")";
                case 'N' -> "N(" + field('M') + ")";
                case 'Z' -> "Z(" + (char) body[0] + ")";
                default -> String.valueOf(type);
            };
        }
    }

    private final Socket socket;
    private final DataInputStream in;
    private final OutputStream out;

    private Wire(Socket socket) throws IOException {
        this.socket = socket;
        this.in = new DataInputStream(new java.io.BufferedInputStream(socket.getInputStream()));
        this.out = socket.getOutputStream();
    }

    static Wire connect(int port, String user, String database) throws IOException {
        Socket s = new Socket();
        s.connect(new InetSocketAddress(Sql.PG_HOST, port), 10_000);
        s.setSoTimeout(30_000);
        s.setTcpNoDelay(true);
        Wire w = new Wire(s);
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        writeInt(body, 196608);
        for (String kv : new String[] {"user", user, "database", database, "client_encoding", "UTF8"}) {
            body.writeBytes(cstring(kv));
        }
        body.write(0);
        ByteArrayOutputStream msg = new ByteArrayOutputStream();
        writeInt(msg, body.size() + 4);
        msg.writeBytes(body.toByteArray());
        w.out.write(msg.toByteArray());
        w.out.flush();
        for (Msg m : w.readUntilReady(1)) {
            if (m.type() == 'E') {
                w.close();
                throw new IOException("startup failed: " + m.summary());
            }
            if (m.type() == 'R' && ByteBuffer.wrap(m.body()).getInt() != 0) {
                w.close();
                throw new IOException("only trust authentication is supported here");
            }
        }
        return w;
    }

    // ---- frontend messages ---------------------------------------------------------------------------------

    static byte[] query(String sql) {
        return message('Q', cstring(sql));
    }

    static byte[] parse(String name, String sql) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.writeBytes(cstring(name));
        b.writeBytes(cstring(sql));
        b.write(0);
        b.write(0); // no parameter types
        return message('P', b.toByteArray());
    }

    /** Bind with text parameters (null = SQL NULL) and text results. */
    static byte[] bind(String portal, String statement, String... params) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.writeBytes(cstring(portal));
        b.writeBytes(cstring(statement));
        writeShort(b, 0); // all parameters text
        writeShort(b, params.length);
        for (String p : params) {
            if (p == null) {
                writeInt(b, -1);
            } else {
                byte[] v = p.getBytes(StandardCharsets.UTF_8);
                writeInt(b, v.length);
                b.writeBytes(v);
            }
        }
        writeShort(b, 0); // all results text
        return message('B', b.toByteArray());
    }

    static byte[] describePortal(String portal) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.write('P');
        b.writeBytes(cstring(portal));
        return message('D', b.toByteArray());
    }

    static byte[] execute(String portal, int maxRows) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.writeBytes(cstring(portal));
        writeInt(b, maxRows);
        return message('E', b.toByteArray());
    }

    static byte[] sync() {
        return message('S', new byte[0]);
    }

    /** Parse/Bind/Describe/Execute/Sync of one unnamed statement with text parameters. */
    static byte[] extended(String sql, String... params) {
        return concat(parse("", sql), bind("", "", params), describePortal(""), execute("", 0), sync());
    }

    static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            b.writeBytes(p);
        }
        return b.toByteArray();
    }

    // ---- I/O -----------------------------------------------------------------------------------------------

    /** Writes all the bytes at once (one TCP write: the requests are pipelined). */
    void send(byte[]... requests) throws IOException {
        out.write(concat(requests));
        out.flush();
    }

    Msg read() throws IOException {
        char type = (char) in.readUnsignedByte();
        int len = in.readInt();
        byte[] body = new byte[len - 4];
        in.readFully(body);
        return new Msg(type, body);
    }

    /** Reads messages until {@code readyCount} ReadyForQuery have arrived. */
    List<Msg> readUntilReady(int readyCount) throws IOException {
        List<Msg> msgs = new ArrayList<>();
        int ready = 0;
        while (ready < readyCount) {
            Msg m = read();
            msgs.add(m);
            if (m.type() == 'Z') {
                ready++;
            }
        }
        return msgs;
    }

    /** Sends one simple Query and returns every reply up to its ReadyForQuery. */
    List<Msg> simple(String sql) throws IOException {
        send(query(sql));
        return readUntilReady(1);
    }

    /** Sends one unnamed extended-protocol statement and returns every reply up to its ReadyForQuery. */
    List<Msg> extendedQuery(String sql, String... params) throws IOException {
        send(extended(sql, params));
        return readUntilReady(1);
    }

    /** Only the messages that are the result proper (no ParameterStatus / notices), byte-exact. */
    static List<String> images(List<Msg> msgs) {
        List<String> out = new ArrayList<>();
        for (Msg m : msgs) {
            if (m.type() != 'S' && m.type() != 'N' && m.type() != 'A') {
                out.add(m.image());
            }
        }
        return out;
    }

    static List<String> summaries(List<Msg> msgs) {
        List<String> out = new ArrayList<>();
        for (Msg m : msgs) {
            if (m.type() != 'S' && m.type() != 'A') {
                out.add(m.summary());
            }
        }
        return out;
    }

    @Override
    public void close() {
        try {
            if (!socket.isClosed()) {
                out.write(message('X', new byte[0]));
                out.flush();
            }
        } catch (IOException ignored) {
            // closing anyway
        }
        try {
            socket.close();
        } catch (IOException ignored) {
            // closing anyway
        }
    }

    private static byte[] message(char type, byte[] body) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.write(type);
        writeInt(b, body.length + 4);
        b.writeBytes(body);
        return b.toByteArray();
    }

    private static byte[] cstring(String s) {
        byte[] v = s.getBytes(StandardCharsets.UTF_8);
        byte[] out = new byte[v.length + 1];
        System.arraycopy(v, 0, out, 0, v.length);
        return out;
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
