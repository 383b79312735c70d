package org.twofa.authenticator.transfer;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.util.Arrays;
import org.junit.Test;

/** Google Authenticator transfer codes written by make_import_files.py. */
public class GoogleMigrationTest {
    private static String[] lines(String file) throws Exception {
        return TestFiles.text(file).trim().split("\n");
    }

    @Test
    public void singleCode() throws Exception {
        GoogleMigration.Part part = GoogleMigration.parse(lines("google-single.txt")[0]);
        assertEquals(1, part.batchSize);
        assertEquals(0, part.batchIndex);
        ImportAssert.sameAccounts(TestFiles.expectedList("google"), part.accounts.accounts());
        assertTrue(part.accounts.skipped().isEmpty());
    }

    @Test
    public void batchOfTwoCodesInAnyOrder() throws Exception {
        String[] codes = lines("google-batch.txt");
        MigrationBatches batches = new MigrationBatches();
        assertTrue(batches.add(GoogleMigration.parse(codes[1])));
        assertFalse(batches.complete());
        assertEquals(Arrays.asList(1), batches.missing());
        assertFalse("scanning a code twice adds nothing", batches.add(GoogleMigration.parse(codes[1])));
        try {
            batches.add(GoogleMigration.parse(lines("google-single.txt")[0]));
            fail("mixed two transfers");
        } catch (ImportException e) {
            assertTrue(e.getMessage().contains("another transfer"));
        }
        assertTrue(batches.add(GoogleMigration.parse(codes[0])));
        assertTrue(batches.complete());
        assertEquals(2, batches.size());
        ImportAssert.sameAccounts(TestFiles.expectedList("google"), batches.accounts().accounts());
    }

    @Test
    public void aTextFileOfCodesImportsTheWholeBatch() throws Exception {
        ImportBatch batch = Importer.read(TestFiles.bytes("google-batch.txt"), null);
        ImportAssert.sameAccounts(TestFiles.expectedList("google"), batch.accounts());
    }

    @Test
    public void damagedCodesAreRefused() throws Exception {
        String good = lines("google-single.txt")[0];
        String[] bad = {
            "otpauth-migration://offline",
            "otpauth-migration://offline?data=",
            "otpauth-migration://offline?data=%%%",
            "otpauth-migration://offline?data=!!!!",
            good.substring(0, good.length() - 12),
            "otpauth-migration://offline?data=GP__", // a varint cut short
            "otpauth://totp/a?secret=JBSWY3DPEHPK3PXP",
        };
        for (String uri : bad) {
            try {
                GoogleMigration.parse(uri);
                fail("accepted " + uri);
            } catch (ImportException e) {
                assertTrue(e.getMessage(), e.getMessage().contains("transfer code"));
            }
        }
    }

    @Test
    public void unsupportedEntriesAreSkippedWithAReason() throws Exception {
        // One account, MD5 (algorithm 4): field 1 { secret (10 bytes), name "x", algorithm 4 }.
        byte[] account = {0x0a, 10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0x12, 1, 'x', 0x20, 4};
        byte[] payload = new byte[account.length + 2];
        payload[0] = 0x0a;
        payload[1] = (byte) account.length;
        System.arraycopy(account, 0, payload, 2, account.length);
        GoogleMigration.Part part = GoogleMigration.payload(payload);
        assertEquals(0, part.accounts.accounts().size());
        assertTrue(part.accounts.skipped().get(0), part.accounts.skipped().get(0).contains("MD5"));
    }
}
