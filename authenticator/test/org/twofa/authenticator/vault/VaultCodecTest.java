package org.twofa.authenticator.vault;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.nio.charset.StandardCharsets;
import javax.crypto.KeyGenerator;
import javax.crypto.SecretKey;
import org.junit.Test;
import org.twofa.authenticator.otp.Algorithm;
import org.twofa.authenticator.otp.Totp;

public class VaultCodecTest {
    private static Vault sample() {
        Vault v = new Vault();
        v.add(new TotpAccount("id-1", "twofa", "alice@example.org",
                new Totp("12345678901234567890".getBytes(StandardCharsets.US_ASCII), Algorithm.SHA1, 6, 30)));
        v.add(new TotpAccount("id-2", "", "bare \"quoted\" \\ name\n",
                new Totp(new byte[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, Algorithm.SHA512, 8, 60)));
        v.add(new TotpAccount("id-3", "Maçã ☃ \uD83D\uDD11", "josé", new Totp(new byte[32], Algorithm.SHA256, 7, 15)));
        return v;
    }

    private static void assertSameAccounts(Vault a, Vault b) {
        assertEquals(a.size(), b.size());
        for (int i = 0; i < a.size(); i++) {
            TotpAccount x = (TotpAccount) a.accounts().get(i);
            TotpAccount y = (TotpAccount) b.accounts().get(i);
            assertEquals(x.id(), y.id());
            assertEquals(x.issuer(), y.issuer());
            assertEquals(x.name(), y.name());
            assertEquals(x.totp(), y.totp());
            assertArrayEquals(x.totp().secret(), y.totp().secret());
        }
    }

    private static void assertRefused(byte[] data, String messagePart) {
        try {
            VaultCodec.decode(data);
            fail("decoded a vault that should be refused (" + messagePart + ")");
        } catch (VaultFormatException e) {
            assertTrue("'" + e.getMessage() + "' should mention '" + messagePart + "'",
                    e.getMessage().contains(messagePart));
        }
    }

    @Test
    public void roundTrip() throws Exception {
        Vault v = sample();
        byte[] bytes = VaultCodec.encode(v);
        assertSameAccounts(v, VaultCodec.decode(bytes));
        // Deterministic: the same vault gives the same bytes.
        assertArrayEquals(bytes, VaultCodec.encode(VaultCodec.decode(bytes)));
        assertEquals(0, VaultCodec.decode(VaultCodec.encode(new Vault())).size());
    }

    @Test
    public void renameAndRemoveSurviveRoundTrip() throws Exception {
        Vault v = sample();
        assertTrue(v.rename("id-2", "Renamed", "new name"));
        assertTrue(v.remove("id-1"));
        assertFalse(v.remove("id-1"));
        Vault back = VaultCodec.decode(VaultCodec.encode(v));
        assertEquals(2, back.size());
        assertEquals("Renamed", back.find("id-2").issuer());
        assertEquals("new name", back.find("id-2").name());
        assertEquals(null, back.find("id-1"));
    }

    @Test
    public void everySingleFlippedByteIsRefused() {
        byte[] good = VaultCodec.encode(sample());
        for (int i = 0; i < good.length; i++) {
            byte[] bad = good.clone();
            bad[i] ^= 0x01;
            try {
                VaultCodec.decode(bad);
                fail("accepted a vault with byte " + i + " flipped");
            } catch (VaultFormatException e) {
                assertTrue(e.getMessage(), e.getMessage().length() > 10);
            }
        }
    }

    @Test
    public void corruptedVaults() {
        byte[] good = VaultCodec.encode(sample());
        byte[] flipped = good.clone();
        flipped[20] ^= 0x20;
        assertRefused(flipped, "checksum");
        assertRefused(java.util.Arrays.copyOf(good, good.length - 1), "corrupted");
        assertRefused(java.util.Arrays.copyOf(good, 20), "truncated");
        assertRefused(java.util.Arrays.copyOf(good, 3), "truncated");
        assertRefused(new byte[0], "truncated");
        assertRefused("PK\u0003\u0004 certainly not a vault at all........................"
                .getBytes(StandardCharsets.US_ASCII), "magic");
        assertRefused(VaultCodec.envelope(1, "{\"accounts\":[".getBytes(StandardCharsets.UTF_8)), "corrupted");
        assertRefused(VaultCodec.envelope(1, "{}".getBytes(StandardCharsets.UTF_8)), "accounts");
        assertRefused(VaultCodec.envelope(0, "{\"accounts\":[]}".getBytes(StandardCharsets.UTF_8)), "version 0");
        assertRefused(VaultCodec.envelope(1, ("{\"accounts\":[{\"kind\":\"totp\",\"id\":\"a\",\"issuer\":\"\","
                + "\"name\":\"n\",\"secret\":\"GEZDGNBV\",\"algorithm\":\"SHA1\",\"digits\":9,\"period\":30}]}")
                .getBytes(StandardCharsets.UTF_8)), "digits");
        assertRefused(VaultCodec.envelope(1, ("{\"accounts\":[{\"kind\":\"totp\",\"id\":\"a\",\"issuer\":\"\","
                + "\"name\":\"n\",\"secret\":\"GEZDGNB1\",\"algorithm\":\"SHA1\",\"digits\":6,\"period\":30}]}")
                .getBytes(StandardCharsets.UTF_8)), "base32");
    }

    @Test
    public void newerVersionIsRefusedAndSaysSo() {
        byte[] json = "{\"accounts\":[],\"whatever\":\"a future format\"}".getBytes(StandardCharsets.UTF_8);
        try {
            VaultCodec.decode(VaultCodec.envelope(VaultCodec.FORMAT_VERSION + 1, json));
            fail("read a newer vault");
        } catch (NewerVaultException e) {
            assertEquals(VaultCodec.FORMAT_VERSION + 1, e.version());
            assertTrue(e.getMessage(), e.getMessage().contains("update the app"));
        } catch (VaultFormatException e) {
            fail("a newer vault must be reported as such, not as " + e.getMessage());
        }
    }

    @Test
    public void unknownAccountKindIsRefused() {
        byte[] json = ("{\"accounts\":[{\"kind\":\"push\",\"id\":\"p\",\"issuer\":\"twofa\",\"name\":\"alice\"}]}")
                .getBytes(StandardCharsets.UTF_8);
        assertRefused(VaultCodec.envelope(1, json), "kind 'push'");
    }

    @Test
    public void sealedVaultRoundTripsAndRefusesTamperingOrAnotherKey() throws Exception {
        KeyGenerator generator = KeyGenerator.getInstance("AES");
        generator.init(256);
        SecretKey key = generator.generateKey();
        byte[] plain = VaultCodec.encode(sample());
        byte[] sealed = VaultCipher.seal(key, plain);
        byte[] sealedAgain = VaultCipher.seal(key, plain);
        assertFalse("each seal uses a fresh IV", java.util.Arrays.equals(sealed, sealedAgain));
        assertArrayEquals(plain, VaultCipher.open(key, sealed));
        assertSameAccounts(sample(), VaultCodec.decode(VaultCipher.open(key, sealedAgain)));

        String plainText = new String(plain, StandardCharsets.ISO_8859_1);
        assertTrue(plainText.contains("alice@example.org"));
        assertFalse("the sealed vault must not show names",
                new String(sealed, StandardCharsets.ISO_8859_1).contains("alice@example.org"));

        for (int i : new int[] {4, 5, 6, 10, sealed.length / 2, sealed.length - 1}) {
            byte[] bad = sealed.clone();
            bad[i] ^= 0x04;
            try {
                VaultCipher.open(key, bad);
                fail("opened a sealed vault with byte " + i + " changed");
            } catch (VaultFormatException expected) {
                // refused, as it must be
            }
        }
        SecretKey other = generator.generateKey();
        try {
            VaultCipher.open(other, sealed);
            fail("opened a vault with another key");
        } catch (VaultFormatException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("another key"));
        }
    }
}
