// The reference for Carillon's cron evaluator: Quartz 2.3.2's own
// org.quartz.CronExpression (Debian's libquartz2-java), read in UTC.
//
// Reads lines `START_MS<TAB>EXPRESSION` on stdin and answers each with one
// line: `REJECT` if Quartz refuses the expression, `THROWS` if it accepts it
// but throws while evaluating it, `HANGS` if evaluating it has not finished
// after a few seconds (Quartz loops for ever on some accepted expressions,
// such as a day-of-month `0W`), else the next (up to) N fire times after
// START_MS, in ms since the epoch, separated by spaces (an empty line when
// there are none). N is the first argument.
//
// Built and run by tests/e2e/quartz_oracle.rs; never part of the product.

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.util.Date;
import java.util.TimeZone;

import org.quartz.CronExpression;

public class CronOracle {
    /** How long one expression may take before it is reported as hanging. */
    static final long PATIENCE_MS = 3000;

    public static void main(String[] args) throws Exception {
        int count = Integer.parseInt(args[0]);
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, "UTF-8"));
        PrintStream out = new PrintStream(System.out, false, "UTF-8");
        String line;
        while ((line = in.readLine()) != null) {
            int tab = line.indexOf('\t');
            long start = Long.parseLong(line.substring(0, tab));
            String text = line.substring(tab + 1);
            CronExpression cron;
            try {
                cron = new CronExpression(text);
            } catch (Exception e) {
                out.println("REJECT");
                continue;
            }
            cron.setTimeZone(TimeZone.getTimeZone("UTC"));
            String[] answer = new String[1];
            Thread worker = new Thread(() -> answer[0] = times(cron, start, count));
            worker.setDaemon(true);
            worker.start();
            worker.join(PATIENCE_MS);
            if (worker.isAlive()) {
                // Deprecated, but the only way to end Quartz's loop; still
                // works on Java 17.
                worker.stop();
                out.println("HANGS");
            } else {
                out.println(answer[0]);
            }
        }
        out.flush();
        System.exit(0);
    }

    static String times(CronExpression cron, long start, int count) {
        StringBuilder times = new StringBuilder();
        Date after = new Date(start);
        try {
            for (int i = 0; i < count; i++) {
                Date next = cron.getTimeAfter(after);
                if (next == null) {
                    break;
                }
                if (times.length() > 0) {
                    times.append(' ');
                }
                times.append(next.getTime());
                after = next;
            }
        } catch (Exception e) {
            // Accepted, but evaluating it fails (Quartz's own bug).
            return "THROWS";
        }
        return times.toString();
    }
}
