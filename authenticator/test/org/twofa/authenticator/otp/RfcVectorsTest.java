package org.twofa.authenticator.otp;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.List;
import java.util.Map;
import org.junit.Test;
import org.twofa.authenticator.vault.Json;

/**
 * RFC 4226 appendix D and RFC 6238 appendix B, read from
 * testdata/totp-vectors.json: the same file the service's Rust tests read.
 */
public class RfcVectorsTest {
    static Map<?, ?> vectors() throws Exception {
        String dir = System.getProperty("twofa.testdata");
        if (dir == null) {
            throw new IllegalStateException("run with -Dtwofa.testdata=<repo>/testdata (cargo xtask apk --test does)");
        }
        byte[] bytes = Files.readAllBytes(new File(dir, "totp-vectors.json").toPath());
        return (Map<?, ?>) Json.parse(new String(bytes, StandardCharsets.UTF_8));
    }

    static byte[] hex(String s) {
        byte[] out = new byte[s.length() / 2];
        for (int i = 0; i < out.length; i++) {
            out[i] = (byte) Integer.parseInt(s.substring(2 * i, 2 * i + 2), 16);
        }
        return out;
    }

    @Test
    public void hotpVectorsOfRfc4226() throws Exception {
        List<?> cases = (List<?>) vectors().get("hotp");
        assertEquals(10, cases.size());
        for (Object o : cases) {
            Map<?, ?> c = (Map<?, ?>) o;
            byte[] secret = hex((String) c.get("secret_hex"));
            assertArrayEquals(secret, Base32.decode((String) c.get("secret_base32")));
            Algorithm algorithm = Algorithm.fromName((String) c.get("algorithm"));
            int digits = ((Long) c.get("digits")).intValue();
            long counter = (Long) c.get("counter");
            assertEquals("counter " + counter, c.get("code"), Hotp.code(secret, counter, digits, algorithm));
        }
    }

    @Test
    public void totpVectorsOfRfc6238() throws Exception {
        List<?> cases = (List<?>) vectors().get("totp");
        assertEquals(18, cases.size());
        int perAlgorithm[] = new int[3];
        for (Object o : cases) {
            Map<?, ?> c = (Map<?, ?>) o;
            byte[] secret = hex((String) c.get("secret_hex"));
            assertArrayEquals(secret, Base32.decode((String) c.get("secret_base32")));
            Algorithm algorithm = Algorithm.fromName((String) c.get("algorithm"));
            perAlgorithm[algorithm.ordinal()]++;
            Totp totp = new Totp(secret, algorithm, ((Long) c.get("digits")).intValue(),
                    ((Long) c.get("period")).intValue());
            long time = (Long) c.get("time");
            String what = algorithm + " at " + time;
            assertEquals(what, ((Long) c.get("step")).longValue(), totp.step(time));
            assertEquals(what, c.get("code"), totp.code(time));
        }
        assertArrayEquals(new int[] {6, 6, 6}, perAlgorithm);
    }

    @Test
    public void sixDigitCodeIsTheLastSixOfTheEightDigitOne() throws Exception {
        // Truncation to 6 digits is the same value modulo 10^6 (RFC 4226 5.3).
        byte[] secret = hex("3132333435363738393031323334353637383930");
        Totp eight = new Totp(secret, Algorithm.SHA1, 8, 30);
        Totp six = new Totp(secret, Algorithm.SHA1, 6, 30);
        Totp seven = new Totp(secret, Algorithm.SHA1, 7, 30);
        assertEquals("94287082", eight.code(59));
        assertEquals("287082", six.code(59));
        assertEquals("4287082", seven.code(59));
    }

    @Test
    public void periodAndCountdown() {
        byte[] secret = hex("3132333435363738393031323334353637383930");
        Totp sixty = new Totp(secret, Algorithm.SHA1, 6, 60);
        assertEquals(0, sixty.step(59));
        assertEquals(1, sixty.step(60));
        assertEquals(1, sixty.secondsRemaining(59));
        assertEquals(60, sixty.secondsRemaining(60));
        assertEquals(sixty.code(60), sixty.code(119));
        // The last second of step 1 and the first of step 2: RFC 4226's codes for counters 1 and 2.
        assertEquals("287082", sixty.code(119));
        assertEquals("359152", sixty.code(120));
        Totp fifteen = new Totp(secret, Algorithm.SHA256, 6, 15);
        assertEquals(Hotp.code(secret, 4, 6, Algorithm.SHA256), fifteen.code(74));
        assertEquals(1, fifteen.secondsRemaining(74));
        assertEquals(-1, fifteen.step(-1));
    }

    @Test
    public void grouping() {
        assertEquals("123 456", Totp.group("123456"));
        assertEquals("123 4567", Totp.group("1234567"));
        assertEquals("1234 5678", Totp.group("12345678"));
    }

    @Test(expected = IllegalArgumentException.class)
    public void hotpRefusesNineDigits() {
        Hotp.code(new byte[] {1}, 0, 9, Algorithm.SHA1);
    }
}
