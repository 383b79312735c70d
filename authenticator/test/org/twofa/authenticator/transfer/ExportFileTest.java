package org.twofa.authenticator.transfer;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.security.SecureRandom;
import org.junit.Test;
import org.twofa.authenticator.otp.Algorithm;
import org.twofa.authenticator.otp.HotpKey;
import org.twofa.authenticator.otp.Totp;
import org.twofa.authenticator.vault.Account;
import org.twofa.authenticator.vault.HotpAccount;
import org.twofa.authenticator.vault.TotpAccount;
import org.twofa.authenticator.vault.Vault;
import org.twofa.authenticator.vault.VaultCodec;

public class ExportFileTest {
    private static final char[] PASSWORD = "säure-Ω-password".toCharArray();

    static Vault sample() {
        Vault v = new Vault();
        v.add(new TotpAccount("t1", "Example", "alice@example.org",
                new Totp("12345678901234567890".getBytes(), Algorithm.SHA256, 8, 45)));
        v.add(new HotpAccount("h1", "", "bob", new HotpKey(new byte[] {9, 8, 7, 6, 5, 4, 3, 2, 1, 0}, Algorithm.SHA1, 6, 17)));
        return v;
    }

    /** Cheap scrypt for speed; the defaults get one test of their own. */
    private static byte[] cheap(Vault v, char[] pw) throws Exception {
        return ExportFile.encrypt(v, pw, 10, 8, 1, new SecureRandom());
    }

    @Test
    public void exportThenImportRoundTrip() throws Exception {
        Vault original = sample();
        byte[] file = cheap(original, PASSWORD);
        Vault back = ExportFile.decrypt(file, PASSWORD);
        assertEquals(original.size(), back.size());
        for (int i = 0; i < original.size(); i++) {
            Account a = original.accounts().get(i);
            Account b = back.accounts().get(i);
            assertEquals(a.issuer(), b.issuer());
            assertEquals(a.name(), b.name());
            assertTrue(a.sameSecret(b));
        }
        assertEquals(17, ((HotpAccount) back.accounts().get(1)).hotp().counter());
        // Through the importer, into a vault that already holds one of them: one duplicate skipped.
        Vault phone = new Vault();
        phone.add(new TotpAccount("other-id", "Renamed", "x",
                new Totp("12345678901234567890".getBytes(), Algorithm.SHA256, 8, 45)));
        ImportPlan plan = new ImportPlan(phone, Importer.read(file, PASSWORD));
        assertEquals(1, plan.toAdd().size());
        assertEquals(1, plan.duplicates().size());
        plan.applyTo(phone);
        assertEquals(2, phone.size());
    }

    @Test
    public void defaultParametersRoundTrip() throws Exception {
        byte[] file = ExportFile.encrypt(sample(), PASSWORD);
        assertEquals(ExportFile.DEFAULT_LOG2_N, file[7]);
        assertEquals(2, ExportFile.decrypt(file, PASSWORD).size());
        assertEquals(Importer.Format.TWOFA_EXPORT, Importer.detect(file));
    }

    @Test
    public void twoExportsOfTheSameVaultDiffer() throws Exception {
        byte[] a = cheap(sample(), PASSWORD);
        byte[] b = cheap(sample(), PASSWORD);
        assertTrue("fresh salt and nonce", !java.util.Arrays.equals(a, b));
    }

    @Test
    public void wrongPasswordIsRefused() throws Exception {
        byte[] file = cheap(sample(), PASSWORD);
        try {
            ExportFile.decrypt(file, "säure-Ω-passwort".toCharArray());
            fail("opened with the wrong password");
        } catch (WrongPasswordException e) {
            assertTrue(e.getMessage().contains("wrong password"));
        }
    }

    @Test
    public void everyChangedByteIsRefused() throws Exception {
        byte[] file = cheap(sample(), PASSWORD);
        for (int i = 0; i < file.length; i++) {
            byte[] bad = file.clone();
            bad[i] ^= 0x01;
            try {
                ExportFile.decrypt(bad, PASSWORD);
                fail("accepted a change at byte " + i);
            } catch (ImportException e) {
                assertTrue(e.getMessage(), !e.getMessage().isEmpty());
            }
        }
    }

    @Test
    public void truncatedNewerAndCostlyFilesAreRefused() throws Exception {
        byte[] file = cheap(sample(), PASSWORD);
        for (int n = 0; n < file.length; n += 7) {
            try {
                ExportFile.decrypt(java.util.Arrays.copyOf(file, n), PASSWORD);
                fail("accepted " + n + " bytes");
            } catch (ImportException e) {
                // expected
            }
        }
        byte[] newer = file.clone();
        newer[5] = 2;
        assertMessage(newer, "newer version");
        byte[] costly = file.clone();
        costly[7] = 30;
        assertMessage(costly, "out of range");
        assertMessage(VaultCodec.encode(sample()), "not a twofa export");
    }

    private static void assertMessage(byte[] data, String part) {
        try {
            ExportFile.decrypt(data, PASSWORD);
            fail("accepted");
        } catch (ImportException e) {
            assertTrue(e.getMessage(), e.getMessage().contains(part));
        }
    }

    @Test(expected = IllegalArgumentException.class)
    public void anEmptyPasswordIsRefused() throws Exception {
        ExportFile.encrypt(sample(), new char[0]);
    }
}
