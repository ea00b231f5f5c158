import java.time.LocalDateTime;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * The synthetic weather of the stress-case demo: 174 US cities, one report every 4 hours from 2023-05-01 00:00:00, each
 * report a pure function of (seed, time step, city). The Tinybird emulator's {@code weather_data} and
 * stress-case/seed-data.java both draw from here, so PostgreSQL and Tinybird serve identical rows.
 */
public final class WeatherReports {
    private WeatherReports() {}

    public static final LocalDateTime START = LocalDateTime.of(2023, 5, 1, 0, 0);
    public static final int STEP_HOURS = 4;
    /** The cities, sorted; a city's index here seeds its reports. */
    public static final String[] CITIES;

    static {
        String[] c = ("Albuquerque,Amarillo,Anaheim,Anchorage,Ann Arbor,Arlington,Arvada,Atlanta,Aurora,"
                + "Austin,Bakersfield,Baltimore,Baton Rouge,Beaumont,Bellevue,Berkeley,Billings,Birmingham,Boise,Boston,"
                + "Boulder,Bridgeport,Broken Arrow,Brownsville,Buffalo,Burbank,Cambridge,Cape Coral,Carlsbad,Carrollton,"
                + "Cary,Cedar Rapids,Chandler,Charleston,Charlotte,Chattanooga,Chesapeake,Chicago,Chula Vista,Cincinnati,"
                + "Clarksville,Clearwater,Cleveland,Clovis,College Station,Colorado Springs,Columbia,Columbus,Concord,"
                + "Coral Springs,Corona,Corpus Christi,Costa Mesa,Dallas,Davenport,Dayton,Denton,Denver,Des Moines,"
                + "Detroit,Downey,Durham,El Monte,El Paso,Elgin,Elk Grove,Escondido,Eugene,Evansville,Everett,Fairfield,"
                + "Fargo,Fayetteville,Fontana,Fort Collins,Fort Lauderdale,Fort Wayne,Fort Worth,Fremont,Fresno,Frisco,"
                + "Fullerton,Gainesville,Garden Grove,Garland,Gilbert,Glendale,Grand Prairie,Grand Rapids,Green Bay,"
                + "Greensboro,Gresham,Hampton,Hartford,Hayward,Henderson,High Point,Hollywood,Honolulu,Houston,"
                + "Huntington Beach,Huntsville,Independence,Indianapolis,Inglewood,Irvine,Irving,Jackson,Jacksonville,"
                + "Jersey City,Joliet,Kansas City,Killeen,Knoxville,Lafayette,Lakeland,Lakewood,Lancaster,Lansing,Laredo,"
                + "Las Cruces,Las Vegas,Lexington,Lincoln,Little Rock,Long Beach,Los Angeles,Louisville,Lubbock,Madison,"
                + "McAllen,McKinney,Memphis,Mesa,Miami,Midland,Milwaukee,Minneapolis,Miramar,Mobile,Modesto,Montgomery,"
                + "Murfreesboro,Naperville,Nashville,New Haven,New Orleans,New York,Newark,Norfolk,Norman,North Charleston,"
                + "Oakland,Oceanside,Oklahoma City,Olathe,Omaha,Ontario,Orange,Orlando,Overland Park,Oxnard,Palm Bay,"
                + "Palmdale,Pasadena,Paterson,Pearland,Peoria,Philadelphia,Phoenix,Pittsburgh,Plano,Pomona,Portland").split(",");
        Arrays.sort(c);
        CITIES = c;
    }

    /** One report (the weather_data columns but site_name). */
    public record Report(LocalDateTime timestamp, int clouds, String description, int humidity, float precip, int pressure,
                         float tempF, int windDir, float windSpeed) {}

    /** A city's climate for a seed: {mean temperature in F, wetness}. */
    public static double[] climate(long seed, String city) {
        SplittableRandom r = new SplittableRandom(seed * 31 + city.hashCode());
        return new double[] {45 + r.nextDouble() * 30, 0.1 + r.nextDouble() * 0.4};
    }

    /** The time of step s. */
    public static LocalDateTime time(int step) {
        return START.plusHours((long) step * STEP_HOURS);
    }

    /** The report of time step s for city index c (its place in CITIES, or past the end for an extra city) and its climate. */
    public static Report report(long seed, int s, int c, double[] climate) {
        SplittableRandom r = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + (long) s * 1000 + c);
        LocalDateTime t = time(s);
        double season = -Math.cos(2 * Math.PI * (t.getDayOfYear() - 15) / 365.0) * 20;
        double daily = -Math.cos(2 * Math.PI * (t.getHour() - 3) / 24.0) * 8;
        float temp = Math.round((climate[0] + season + daily + r.nextGaussian() * 4) * 10) / 10f;
        int clouds = (int) Math.min(100, Math.max(0, Math.round(50 + r.nextGaussian() * 35)));
        boolean rain = r.nextDouble() < climate[1] * clouds / 100.0;
        float precip = rain ? Math.round(r.nextDouble() * 120) / 10f : 0f;
        int humidity = (int) Math.min(100, Math.max(5, Math.round(55 + clouds * 0.3 + r.nextGaussian() * 10)));
        int pressure = (int) Math.min(127, Math.max(90, Math.round(101 + r.nextGaussian() * 2)));
        int windDir = r.nextInt(36);
        float wind = Math.round(Math.abs(r.nextGaussian() * 8) * 10) / 10f;
        String desc = rain ? (temp < 32 ? (precip > 5 ? "snow" : "light snow") : precip > 8 ? "heavy intensity rain"
                : precip > 3 ? "moderate rain" : clouds > 90 && r.nextDouble() < 0.1 ? "thunderstorm" : "light rain")
                : clouds < 10 ? "clear sky" : clouds < 25 ? "few clouds" : clouds < 50 ? "scattered clouds"
                : clouds < 85 ? "broken clouds" : humidity > 90 ? "mist" : "overcast clouds";
        return new Report(t, clouds, desc, humidity, precip, pressure, temp, windDir, wind);
    }
}
