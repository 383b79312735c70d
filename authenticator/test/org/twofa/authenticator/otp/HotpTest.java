package org.twofa.authenticator.otp;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotEquals;
import static org.junit.Assert.assertTrue;

import java.nio.charset.StandardCharsets;
import org.junit.Test;

/** RFC 4226 appendix D through the HOTP account's counter, as the app steps it. */
public class HotpTest {
    private static final String[] RFC4226 = {
        "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489",
    };

    @Test
    public void rfc4226VectorsByStepping() {
        HotpKey key = new HotpKey("12345678901234567890".getBytes(StandardCharsets.US_ASCII), Algorithm.SHA1, 6, 0);
        for (int i = 0; i < RFC4226.length; i++) {
            assertEquals("counter " + i, RFC4226[i], key.code());
            assertEquals(i, key.counter());
            key = key.next();
        }
    }

    @Test
    public void rfc4226VectorsFromALink() throws Exception {
        // The RFC's secret "12345678901234567890" in base32.
        String secret = Base32.encode("12345678901234567890".getBytes(StandardCharsets.US_ASCII));
        for (int i = 0; i < RFC4226.length; i++) {
            OtpAuthUri u = OtpAuthUri.parse("otpauth://hotp/RFC:4226?secret=" + secret + "&counter=" + i);
            assertEquals(RFC4226[i], u.hotp().code());
        }
    }

    @Test
    public void sameKeyIgnoresTheCounter() {
        byte[] s = new byte[20];
        HotpKey a = new HotpKey(s, Algorithm.SHA1, 6, 3);
        assertTrue(a.sameKey(a.next()));
        assertNotEquals(a, a.next());
        assertTrue(!a.sameKey(new HotpKey(s, Algorithm.SHA256, 6, 3)));
        assertTrue(!a.toString().contains("0000"));
    }

    @Test(expected = IllegalArgumentException.class)
    public void negativeCounterIsRefused() {
        new HotpKey(new byte[20], Algorithm.SHA1, 6, -1);
    }
}
