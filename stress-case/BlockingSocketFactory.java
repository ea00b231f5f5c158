import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;

/**
 * pgjdbc's socket factory (property socketFactory) for blocking sockets with {@link Deadlines}: connectTimeout
 * and socketTimeout (setSoTimeout) are enforced by closing the socket, which pgjdbc then reports as an I/O error,
 * as it does a timed-out read. Public with a public constructor: pgjdbc instantiates it by name.
 */
public final class BlockingSocketFactory extends javax.net.SocketFactory {
    public BlockingSocketFactory() {}

    @Override
    public Socket createSocket() {
        return new WatchedSocket();
    }

    @Override
    public Socket createSocket(String host, int port) throws IOException {
        Socket s = createSocket();
        s.connect(new InetSocketAddress(host, port));
        return s;
    }

    @Override
    public Socket createSocket(String host, int port, java.net.InetAddress localHost, int localPort) throws IOException {
        Socket s = createSocket();
        s.bind(new InetSocketAddress(localHost, localPort));
        s.connect(new InetSocketAddress(host, port));
        return s;
    }

    @Override
    public Socket createSocket(java.net.InetAddress host, int port) throws IOException {
        Socket s = createSocket();
        s.connect(new InetSocketAddress(host, port));
        return s;
    }

    @Override
    public Socket createSocket(java.net.InetAddress address, int port, java.net.InetAddress localAddress, int localPort) throws IOException {
        Socket s = createSocket();
        s.bind(new InetSocketAddress(localAddress, localPort));
        s.connect(new InetSocketAddress(address, port));
        return s;
    }
}
