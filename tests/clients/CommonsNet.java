// A Java batch job on Apache Commons Net (Debian's libcommons-net-java), as
// the Java world uploads to FTP: run as a single-file program,
//   java -cp /usr/share/java/commons-net.jar CommonsNet.java PORT plain|ftps USER PASS
// Uploads, lists (Commons Net's own UNIX LIST parser must parse every
// entry), downloads and compares, renames, deletes. Prints "ok" and exits 0
// when everything matched; otherwise prints what failed and exits 1.

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.util.Arrays;
import java.util.Random;

import org.apache.commons.net.ftp.FTP;
import org.apache.commons.net.ftp.FTPClient;
import org.apache.commons.net.ftp.FTPFile;
import org.apache.commons.net.ftp.FTPReply;
import org.apache.commons.net.ftp.FTPSClient;
import org.apache.commons.net.util.TrustManagerUtils;

public class CommonsNet {
    static void check(boolean ok, FTPClient ftp, String what) {
        if (!ok) {
            System.out.println("FAILED: " + what + ": " + ftp.getReplyString().trim());
            System.exit(1);
        }
    }

    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(args[0]);
        boolean tls = args[1].equals("ftps");
        FTPClient ftp;
        if (tls) {
            FTPSClient s = new FTPSClient(false);
            s.setTrustManager(TrustManagerUtils.getAcceptAllTrustManager());
            ftp = s;
        } else {
            ftp = new FTPClient();
        }
        ftp.setConnectTimeout(10000);
        ftp.setDefaultTimeout(30000);
        ftp.connect("127.0.0.1", port);
        check(FTPReply.isPositiveCompletion(ftp.getReplyCode()), ftp, "connect");
        check(ftp.login(args[2], args[3]), ftp, "login");
        if (tls) {
            ((FTPSClient) ftp).execPBSZ(0);
            ((FTPSClient) ftp).execPROT("P");
        }
        ftp.enterLocalPassiveMode();
        check(ftp.setFileType(FTP.BINARY_FILE_TYPE), ftp, "TYPE I");
        check(ftp.makeDirectory("cn") || ftp.changeWorkingDirectory("cn"), ftp, "MKD cn");
        ftp.changeWorkingDirectory("/");

        byte[] data = new byte[3 * 1024 * 1024 + 17];
        new Random(7).nextBytes(data);
        check(ftp.storeFile("cn/data.bin", new ByteArrayInputStream(data)), ftp, "STOR");
        check(ftp.storeFile("cn/small.txt", new ByteArrayInputStream("hello\n".getBytes())), ftp, "STOR small");

        FTPFile[] files = ftp.listFiles("cn");
        check(files.length == 2, ftp, "LIST cn gave " + files.length + " entries");
        for (FTPFile f : files) {
            check(f != null && f.isValid() && f.getName() != null && f.getTimestamp() != null, ftp,
                  "LIST line not parsed: " + (f == null ? "null" : f.getRawListing()));
            long want = f.getName().equals("data.bin") ? data.length : 6;
            check(f.isFile() && f.getSize() == want, ftp, "LIST entry " + f.getRawListing());
        }
        FTPFile[] root = ftp.listFiles("/");
        boolean dirSeen = false;
        for (FTPFile f : root) {
            check(f != null && f.isValid(), ftp, "LIST / line not parsed");
            dirSeen |= f.getName().equals("cn") && f.isDirectory();
        }
        check(dirSeen, ftp, "LIST / shows cn as a directory");

        ByteArrayOutputStream back = new ByteArrayOutputStream();
        check(ftp.retrieveFile("cn/data.bin", back), ftp, "RETR");
        check(Arrays.equals(back.toByteArray(), data), ftp, "RETR bytes differ");
        check(ftp.rename("cn/small.txt", "cn/renamed.txt"), ftp, "RNFR/RNTO");
        check(ftp.deleteFile("cn/renamed.txt"), ftp, "DELE");
        ftp.logout();
        ftp.disconnect();
        System.out.println("ok");
    }
}
