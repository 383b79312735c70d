package org.twofa.authenticator.otp;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.nio.charset.StandardCharsets;
import org.junit.Test;

public class Base32Test {
    private static final byte[] FOOBAR = "foobar".getBytes(StandardCharsets.US_ASCII);

    @Test
    public void rfc4648Vectors() throws Exception {
        String[] encoded = {"", "MY", "MZXQ", "MZXW6", "MZXW6YQ", "MZXW6YTB", "MZXW6YTBOI"};
        for (int n = 0; n <= 6; n++) {
            byte[] plain = new byte[n];
            System.arraycopy(FOOBAR, 0, plain, 0, n);
            assertEquals(encoded[n], Base32.encode(plain));
            assertArrayEquals(plain, Base32.decode(encoded[n]));
        }
    }

    @Test
    public void toleratesLowerCaseSpacesHyphensAndPadding() throws Exception {
        byte[] want = Base32.decode("MZXW6YTBOI");
        assertArrayEquals(want, Base32.decode("mzxw6ytboi"));
        assertArrayEquals(want, Base32.decode("MZXW 6YTB OI"));
        assertArrayEquals(want, Base32.decode(" mzxw-6ytb-oi \n"));
        assertArrayEquals(want, Base32.decode("MZXW6YTBOI======"));
        assertArrayEquals(Base32.decode("GEZDGNBVGY3TQOJQ"), Base32.decode("gezd gnbv gy3t qojq"));
    }

    @Test
    public void roundTripsEveryLength() throws Exception {
        for (int n = 0; n < 70; n++) {
            byte[] data = new byte[n];
            for (int i = 0; i < n; i++) {
                data[i] = (byte) (i * 37 + n);
            }
            assertArrayEquals(data, Base32.decode(Base32.encode(data)));
        }
    }

    @Test
    public void acceptsLengthsAndTrailingBitsOtherAppsAccept() throws Exception {
        // Other authenticators drop the bits after the last whole byte, whatever they are.
        assertArrayEquals(new byte[0], Base32.decode("M"));
        assertArrayEquals(new byte[] {'f'}, Base32.decode("MZ")); // 'Z' leaves non-zero unused bits
        assertArrayEquals(new byte[] {'f'}, Base32.decode("MY"));
        assertArrayEquals(new byte[] {'f'}, Base32.decode("MZX")); // 15 bits: one byte, 7 dropped
        assertArrayEquals(new byte[] {'f', 'o', 'o'}, Base32.decode("MZXW6Y")); // 30 bits
        assertArrayEquals(Base32.decode("MZXW6YTBOI"), Base32.decode("MZXW6YTBOI="));
        assertArrayEquals(Base32.decode("MZXW6YTBOI"), Base32.decode("MZXW6YTBOJ"));
        // A 26-character secret (130 bits), as some services hand out.
        assertEquals(16, Base32.decode("JBSWY3DPEHPK3PXPJBSWY3DPEH").length);
    }

    @Test
    public void refusesWhatIsNotBase32() {
        String[] bad = {
            "MZXW6YT1", // '1' is not in the alphabet
            "MZXW6YT0", // nor '0'
            "MZXW6YT8", // nor '8'
            "MZXW6Y*B",
            "MZX=W6YT", // padding in the middle
            "MZXW6YTBOI========", // more padding than a group can hold
            "MZXW6YTBOÉ",
        };
        for (String s : bad) {
            try {
                Base32.decode(s);
                fail("decoded '" + s + "'");
            } catch (Base32.InvalidBase32Exception e) {
                assertTrue(e.getMessage(), e.getMessage().contains("base32"));
            }
        }
    }
}
