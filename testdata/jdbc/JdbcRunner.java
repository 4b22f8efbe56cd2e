// JdbcRunner drives pgJDBC for Flywheel's tests. It reads commands from
// standard input, one per line, runs them on one connection and prints
// deterministic results, so Go tests can compare them. Run with the
// source launcher: java -cp postgresql.jar JdbcRunner.java URL
//
//   query SQL          rows as tab-separated values, then "(N rows)"
//   table SQL          a header line then rows, values separated by |,
//                      NULL as "NULL"; a statement that fails prints its error
//   exec SQL           update count
//   prepare N SQL      a PreparedStatement with one int parameter ?,
//                      executed N times with 1..N; prints every row
//   batch TABLE N      INSERT INTO TABLE VALUES (?, ?) N times in one batch
//   tables PATTERN     DatabaseMetaData.getTables names
//   columns TABLE      DatabaseMetaData.getColumns name:type
//   functions SCHEMA   DatabaseMetaData.getFunctions names
//   copyout SQL        CopyManager.copyOut of a COPY ... TO STDOUT: the data,
//                      then "(N rows)"
// Errors print as "ERROR <sqlstate> <message>" and the session goes on.
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.sql.*;
import java.util.*;

public class JdbcRunner {
    public static void main(String[] args) throws Exception {
        try (Connection c = DriverManager.getConnection(args[0])) {
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
            String line;
            while ((line = in.readLine()) != null) {
                line = line.trim();
                if (line.isEmpty()) continue;
                String[] p = line.split(" ", 2);
                try {
                    run(c, p[0], p.length > 1 ? p[1] : "");
                } catch (SQLException e) {
                    System.out.println("ERROR " + e.getSQLState() + " " + e.getMessage().split("\n")[0]);
                    if (p[0].equals("table")) System.out.println("----");
                }
            }
        }
    }

    static void run(Connection c, String cmd, String arg) throws SQLException {
        switch (cmd) {
            case "query":
                try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery(arg)) {
                    print(rs);
                }
                break;
            case "table":
                try (Statement s = c.createStatement()) {
                    if (s.execute(arg)) {
                        try (ResultSet rs = s.getResultSet()) {
                            table(rs);
                        }
                    } else {
                        System.out.println("ok");
                    }
                }
                System.out.println("----");
                break;
            case "copyout": {
                java.io.StringWriter w = new java.io.StringWriter();
                try {
                    long n = new org.postgresql.copy.CopyManager(c.unwrap(org.postgresql.core.BaseConnection.class)).copyOut(arg, w);
                    System.out.print(w);
                    System.out.println("(" + n + " rows)");
                } catch (java.io.IOException e) {
                    throw new SQLException(e);
                }
                break;
            }
            case "exec":
                try (Statement s = c.createStatement()) {
                    System.out.println("updated " + s.executeUpdate(arg));
                }
                break;
            case "prepare": {
                String[] p = arg.split(" ", 2);
                int n = Integer.parseInt(p[0]);
                try (PreparedStatement ps = c.prepareStatement(p[1])) {
                    for (int i = 1; i <= n; i++) {
                        ps.setInt(1, i);
                        try (ResultSet rs = ps.executeQuery()) {
                            print(rs);
                        }
                    }
                }
                break;
            }
            case "batch": {
                String[] p = arg.split(" ", 2);
                int n = Integer.parseInt(p[1]);
                try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + p[0] + " VALUES (?, ?)")) {
                    for (int i = 1; i <= n; i++) {
                        ps.setInt(1, i);
                        ps.setString(2, "row " + i);
                        ps.addBatch();
                    }
                    int total = 0;
                    for (int u : ps.executeBatch()) total += u;
                    System.out.println("batched " + total);
                }
                break;
            }
            case "tables":
                try (ResultSet rs = c.getMetaData().getTables(null, null, arg, new String[]{"TABLE"})) {
                    while (rs.next()) System.out.println(rs.getString("TABLE_NAME"));
                }
                break;
            case "columns":
                try (ResultSet rs = c.getMetaData().getColumns(null, null, arg, "%")) {
                    while (rs.next()) System.out.println(rs.getString("COLUMN_NAME") + ":" + rs.getString("TYPE_NAME"));
                }
                break;
            case "functions": {
                SortedSet<String> names = new TreeSet<>();
                try (ResultSet rs = c.getMetaData().getFunctions(null, arg, "%")) {
                    while (rs.next()) names.add(rs.getString("FUNCTION_NAME"));
                }
                for (String n : names) System.out.println(n);
                break;
            }
            default:
                System.out.println("unknown command " + cmd);
        }
    }

    static void table(ResultSet rs) throws SQLException {
        ResultSetMetaData md = rs.getMetaData();
        int cols = md.getColumnCount();
        StringBuilder h = new StringBuilder();
        for (int i = 1; i <= cols; i++) {
            if (i > 1) h.append('|');
            h.append(md.getColumnLabel(i));
        }
        System.out.println(h);
        while (rs.next()) {
            StringBuilder b = new StringBuilder();
            for (int i = 1; i <= cols; i++) {
                if (i > 1) b.append('|');
                String v = rs.getString(i);
                b.append(v == null ? "NULL" : v);
            }
            System.out.println(b);
        }
    }

    static void print(ResultSet rs) throws SQLException {
        int cols = rs.getMetaData().getColumnCount();
        int n = 0;
        while (rs.next()) {
            StringBuilder b = new StringBuilder();
            for (int i = 1; i <= cols; i++) {
                if (i > 1) b.append('\t');
                b.append(rs.getString(i));
            }
            System.out.println(b);
            n++;
        }
        System.out.println("(" + n + " rows)");
    }
}
