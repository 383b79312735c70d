package org.twofa.authenticator.vault;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertSame;
import static org.junit.Assert.assertTrue;

import org.junit.Test;
import org.twofa.authenticator.otp.Algorithm;
import org.twofa.authenticator.otp.HotpKey;
import org.twofa.authenticator.otp.Totp;

/** Re-enrolling: the same issuer and name is found, and replaced in place. */
public class VaultTest {
    private static Totp totp(int b) {
        return new Totp(new byte[] {1, 2, 3, 4, 5, 6, 7, 8, 9, (byte) b}, Algorithm.SHA1, 6, 30);
    }

    @Test
    public void reEnrolReplacesTheOldEntryInPlace() {
        Vault v = new Vault();
        v.add(new TotpAccount("a", "Example", "alice", totp(1)));
        v.add(new TotpAccount("b", "Other", "bob", totp(2)));
        Account old = v.findSameLabel(" example ", "ALICE");
        assertSame(v.accounts().get(0), old);
        assertNull(v.findSameLabel("Example", "bob"));
        TotpAccount fresh = new TotpAccount("new", "Example", "alice", totp(3));
        assertTrue(v.replace(fresh.withId(old.id())));
        assertEquals(2, v.size());
        assertEquals("a", v.accounts().get(0).id());
        assertTrue(v.accounts().get(0).sameSecret(fresh));
        assertTrue(!v.replace(new TotpAccount("missing", "", "x", totp(4))));
    }

    @Test
    public void sameSecretComparesKindAndParameters() {
        TotpAccount t = new TotpAccount("a", "", "x", totp(1));
        assertTrue(t.sameSecret(new TotpAccount("b", "Other", "y", totp(1))));
        assertTrue(!t.sameSecret(new TotpAccount("b", "", "x", totp(2))));
        byte[] s = {1, 2, 3, 4, 5, 6, 7, 8, 9, 1};
        HotpAccount h = new HotpAccount("h", "", "x", new HotpKey(s, Algorithm.SHA1, 6, 0));
        assertTrue(!t.sameSecret(h));
        assertTrue(h.sameSecret(h.next()));
    }
}
