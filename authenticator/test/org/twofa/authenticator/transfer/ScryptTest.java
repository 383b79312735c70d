package org.twofa.authenticator.transfer;

import static org.junit.Assert.assertArrayEquals;

import java.nio.charset.StandardCharsets;
import org.junit.Test;

/** RFC 7914 section 12 test vectors (the 1 GiB one is left out). */
public class ScryptTest {
    private static byte[] hex(String s) {
        s = s.replace(" ", "");
        byte[] out = new byte[s.length() / 2];
        for (int i = 0; i < out.length; i++) {
            out[i] = (byte) Integer.parseInt(s.substring(2 * i, 2 * i + 2), 16);
        }
        return out;
    }

    private static byte[] ascii(String s) {
        return s.getBytes(StandardCharsets.US_ASCII);
    }

    @Test
    public void emptyPassword() {
        assertArrayEquals(hex("77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442"
                + "fcd0069ded0948f8326a753a0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906"),
                Scrypt.derive(new byte[0], new byte[0], 16, 1, 1, 64));
    }

    @Test
    public void passwordNaCl() {
        assertArrayEquals(hex("fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162"
                + "2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640"),
                Scrypt.derive(ascii("password"), ascii("NaCl"), 1024, 8, 16, 64));
    }

    @Test
    public void pleaseLetMeIn() {
        assertArrayEquals(hex("7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2"
                + "d5432955613f0fcf62d49705242a9af9e61e85dc0d651e40dfcf017b45575887"),
                Scrypt.derive(ascii("pleaseletmein"), ascii("SodiumChloride"), 16384, 8, 1, 64));
    }

    @Test(expected = IllegalArgumentException.class)
    public void nMustBeAPowerOfTwo() {
        Scrypt.derive(new byte[1], new byte[1], 1000, 8, 1, 32);
    }

    @Test(expected = IllegalArgumentException.class)
    public void memoryIsBounded() {
        Scrypt.derive(new byte[1], new byte[1], 1 << 20, 8, 1, 32);
    }
}
