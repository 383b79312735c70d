package org.twofa.authenticator.transfer;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import org.junit.Test;
import org.twofa.authenticator.vault.Vault;

/** Aegis exports written by make_import_files.py from Aegis' documented format. */
public class AegisImportTest {
    @Test
    public void plainExport() throws Exception {
        byte[] file = TestFiles.bytes("aegis-plain.json");
        assertEquals(Importer.Format.AEGIS_PLAIN, Importer.detect(file));
        ImportBatch batch = Importer.read(file, null);
        ImportAssert.sameAccounts(TestFiles.expectedList("accounts"), batch.accounts());
        assertEquals(1, batch.skipped().size());
        assertTrue(batch.skipped().get(0), batch.skipped().get(0).contains("steam"));
    }

    @Test
    public void encryptedExportWithItsPassword() throws Exception {
        byte[] file = TestFiles.bytes("aegis-encrypted.json");
        assertEquals(Importer.Format.AEGIS_ENCRYPTED, Importer.detect(file));
        ImportBatch batch = Importer.read(file, TestFiles.password("aegis-encrypted.json").toCharArray());
        ImportAssert.sameAccounts(TestFiles.expectedList("accounts"), batch.accounts());
        assertEquals(1, batch.skipped().size());
    }

    @Test
    public void encryptedExportWithAWrongOrNoPassword() throws Exception {
        byte[] file = TestFiles.bytes("aegis-encrypted.json");
        try {
            Importer.read(file, "correct horse battery stapler".toCharArray());
            fail("opened with a wrong password");
        } catch (WrongPasswordException e) {
            // ask again
        }
        try {
            Importer.read(file, null);
            fail("opened without a password");
        } catch (ImportException e) {
            assertTrue(e.getMessage().contains("password"));
        }
    }

    @Test
    public void damagedContentIsRefused() throws Exception {
        String text = TestFiles.text("aegis-encrypted.json");
        int db = text.indexOf("\"db\": \"") + 7;
        char c = text.charAt(db);
        String changed = text.substring(0, db) + (c == 'A' ? 'B' : 'A') + text.substring(db + 1);
        try {
            AegisImport.read(changed, TestFiles.password("aegis-encrypted.json").toCharArray());
            fail("accepted a changed vault");
        } catch (ImportException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("damaged"));
        }
        String noPasswordSlot = text.replace("\"type\": 1", "\"type\": 2");
        try {
            AegisImport.read(noPasswordSlot, "x".toCharArray());
            fail("accepted a vault without password slot");
        } catch (ImportException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("no password slot"));
        }
        String costly = text.replace("\"n\": 16384", "\"n\": 1073741824");
        try {
            AegisImport.read(costly, "x".toCharArray());
            fail("ran scrypt with N = 2^30");
        } catch (ImportException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("out of range"));
        }
    }

    @Test
    public void otherJsonIsNotAegis() throws Exception {
        assertFalse(AegisImport.looksLikeAegis("{\"accounts\":[]}"));
        try {
            AegisImport.read("{\"version\": 2, \"header\": {}, \"db\": {}}", null);
            fail("accepted version 2");
        } catch (ImportException e) {
            assertTrue(e.getMessage().contains("version"));
        }
        try {
            Importer.read("{\"header\": 1, \"db\": [1.5]}".getBytes("UTF-8"), null);
            fail("accepted junk");
        } catch (ImportException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("not"));
        }
    }

    @Test
    public void importingTwiceAddsNothingTheSecondTime() throws Exception {
        Vault phone = new Vault();
        ImportBatch batch = Importer.read(TestFiles.bytes("aegis-plain.json"), null);
        ImportPlan first = new ImportPlan(phone, batch);
        assertEquals(3, first.toAdd().size());
        first.applyTo(phone);
        ImportPlan second = new ImportPlan(phone, batch);
        assertEquals(0, second.toAdd().size());
        assertEquals(3, second.duplicates().size());
        assertEquals(3, phone.size());
    }
}
