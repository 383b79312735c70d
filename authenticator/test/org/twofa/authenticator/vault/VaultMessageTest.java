package org.twofa.authenticator.vault;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.nio.charset.StandardCharsets;
import org.junit.Test;

/** Vault errors, as really thrown, in Portuguese; {@code getMessage()} stays English. */
public class VaultMessageTest {
    private static VaultFormatException refusedVault(byte[] data) {
        try {
            VaultCodec.decode(data);
            fail("read the vault");
            return null;
        } catch (VaultFormatException e) {
            return e;
        }
    }

    @Test
    public void vaultErrorsInPortuguese() {
        VaultFormatException truncated = refusedVault(new byte[3]);
        assertEquals("the vault is truncated (3 bytes)", truncated.getMessage());
        assertEquals("o cofre está truncado (3 bytes)", truncated.localizedMessage("pt"));

        VaultFormatException notObject = refusedVault(VaultCodec.envelope(1, "[]".getBytes(StandardCharsets.UTF_8)));
        assertEquals("the vault is corrupted: the vault is not an object", notObject.getMessage());
        assertEquals("o cofre está corrompido: o cofre não é um objeto", notObject.localizedMessage("pt"));

        byte[] json = "{\"accounts\":[]}".getBytes(StandardCharsets.UTF_8);
        VaultFormatException newer = refusedVault(VaultCodec.envelope(VaultCodec.FORMAT_VERSION + 1, json));
        assertTrue(newer instanceof NewerVaultException);
        int v = VaultCodec.FORMAT_VERSION;
        assertEquals("the vault has format version " + (v + 1) + ", newer than the " + v
                + " this app reads; update the app", newer.getMessage());
        assertEquals("o cofre tem a versão de formato " + (v + 1) + ", mais recente do que a " + v
                + " que este app lê; atualize o app", newer.localizedMessage("pt"));
        assertEquals(newer.getMessage(), newer.localizedMessage("fr"));
    }
}
