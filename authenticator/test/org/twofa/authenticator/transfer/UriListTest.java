package org.twofa.authenticator.transfer;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import org.junit.Test;

public class UriListTest {
    @Test
    public void listOfLinksWithABadLine() throws Exception {
        byte[] file = TestFiles.bytes("otpauth-list.txt");
        assertEquals(Importer.Format.URI_LIST, Importer.detect(file));
        ImportBatch batch = Importer.read(file, null);
        ImportAssert.sameAccounts(TestFiles.expectedList("accounts"), batch.accounts());
        assertEquals(1, batch.skipped().size());
        assertTrue(batch.skipped().get(0), batch.skipped().get(0).startsWith("line 6: "));
        assertTrue(batch.skipped().get(0), batch.skipped().get(0).contains("base32"));
    }

    @Test
    public void windowsLineEndsAndByteOrderMark() throws Exception {
        String text = "\uFEFFotpauth://totp/a?secret=JBSWY3DPEHPK3PXP\r\n\r\notpauth://totp/b?secret=GEZDGNBVGY3TQOJQ\r\n";
        ImportBatch batch = UriList.read(text);
        assertEquals(2, batch.accounts().size());
        assertEquals("b", batch.accounts().get(1).accountName());
    }

    @Test
    public void noLinkAtAllIsAnError() {
        for (String text : new String[] {"", "# nothing\n\n", "hello\nworld"}) {
            try {
                UriList.read(text.replace("hello", "# hello").replace("world", "# world"));
                fail("accepted " + text);
            } catch (ImportException e) {
                assertTrue(e.getMessage().contains("no otpauth"));
            }
        }
        try {
            Importer.detect("just some text".getBytes());
            fail("took plain text for an import");
        } catch (ImportException e) {
            assertTrue(e.getMessage().contains("not a twofa export"));
        }
        try {
            Importer.detect(new byte[] {(byte) 0xff, (byte) 0xfe, 0, 1});
            fail("took binary junk for an import");
        } catch (ImportException e) {
            assertTrue(e.getMessage().contains("not a twofa export"));
        }
    }

    @Test
    public void duplicatesWithinOneFileAreAddedOnce() throws Exception {
        String link = "otpauth://totp/a?secret=JBSWY3DPEHPK3PXP\n";
        ImportPlan plan = new ImportPlan(new org.twofa.authenticator.vault.Vault(), UriList.read(link + link));
        assertEquals(1, plan.toAdd().size());
        assertEquals(1, plan.duplicates().size());
    }
}
