// Real cities with the country they lie in, spread over every inhabited continent, for
// `capture_location`. Names in their common English ASCII spelling.
#include "profiles/name_tables.h"

namespace privprobe {

namespace {

std::vector<City> with_continent(const char* continent, std::vector<std::pair<const char*, const char*>> pairs) {
  std::vector<City> cities;
  for (const auto& [city, country] : pairs) cities.push_back({city, country, continent});
  return cities;
}

std::vector<City> build_cities() {
  std::vector<std::vector<City>> groups;
  groups.push_back(with_continent(
      "Africa", {{"Lagos", "Nigeria"},          {"Abuja", "Nigeria"},           {"Ibadan", "Nigeria"},
                 {"Nairobi", "Kenya"},          {"Mombasa", "Kenya"},           {"Cairo", "Egypt"},
                 {"Alexandria", "Egypt"},       {"Casablanca", "Morocco"},      {"Marrakesh", "Morocco"},
                 {"Tunis", "Tunisia"},          {"Algiers", "Algeria"},         {"Accra", "Ghana"},
                 {"Kumasi", "Ghana"},           {"Dakar", "Senegal"},           {"Addis Ababa", "Ethiopia"},
                 {"Dar es Salaam", "Tanzania"}, {"Arusha", "Tanzania"},         {"Kampala", "Uganda"},
                 {"Kigali", "Rwanda"},          {"Johannesburg", "South Africa"}, {"Cape Town", "South Africa"},
                 {"Durban", "South Africa"},    {"Luanda", "Angola"},           {"Lusaka", "Zambia"},
                 {"Harare", "Zimbabwe"},        {"Maputo", "Mozambique"},       {"Windhoek", "Namibia"},
                 {"Abidjan", "Ivory Coast"},    {"Antananarivo", "Madagascar"}, {"Khartoum", "Sudan"}}));
  groups.push_back(with_continent(
      "Asia", {{"Tokyo", "Japan"},           {"Osaka", "Japan"},           {"Kyoto", "Japan"},
               {"Sapporo", "Japan"},         {"Seoul", "South Korea"},     {"Busan", "South Korea"},
               {"Beijing", "China"},         {"Shanghai", "China"},        {"Guangzhou", "China"},
               {"Shenzhen", "China"},        {"Chengdu", "China"},         {"Hangzhou", "China"},
               {"Taipei", "Taiwan"},         {"Mumbai", "India"},          {"New Delhi", "India"},
               {"Bengaluru", "India"},       {"Chennai", "India"},         {"Kolkata", "India"},
               {"Hyderabad", "India"},       {"Karachi", "Pakistan"},      {"Lahore", "Pakistan"},
               {"Dhaka", "Bangladesh"},      {"Kathmandu", "Nepal"},       {"Colombo", "Sri Lanka"},
               {"Bangkok", "Thailand"},      {"Chiang Mai", "Thailand"},   {"Hanoi", "Vietnam"},
               {"Ho Chi Minh City", "Vietnam"}, {"Da Nang", "Vietnam"},    {"Jakarta", "Indonesia"},
               {"Surabaya", "Indonesia"},    {"Bandung", "Indonesia"},     {"Kuala Lumpur", "Malaysia"},
               {"Singapore", "Singapore"},   {"Manila", "Philippines"},    {"Cebu City", "Philippines"},
               {"Riyadh", "Saudi Arabia"},   {"Jeddah", "Saudi Arabia"},   {"Dubai", "United Arab Emirates"},
               {"Abu Dhabi", "United Arab Emirates"}, {"Doha", "Qatar"},   {"Tehran", "Iran"},
               {"Isfahan", "Iran"},          {"Shiraz", "Iran"},           {"Istanbul", "Turkey"},
               {"Ankara", "Turkey"},         {"Izmir", "Turkey"},          {"Amman", "Jordan"},
               {"Beirut", "Lebanon"},        {"Tel Aviv", "Israel"},       {"Baghdad", "Iraq"},
               {"Tashkent", "Uzbekistan"},   {"Almaty", "Kazakhstan"},     {"Ulaanbaatar", "Mongolia"},
               {"Muscat", "Oman"},           {"Kuwait City", "Kuwait"}}));
  groups.push_back(with_continent(
      "Europe", {{"London", "United Kingdom"},   {"Manchester", "United Kingdom"}, {"Edinburgh", "United Kingdom"},
                 {"Dublin", "Ireland"},         {"Cork", "Ireland"},             {"Paris", "France"},
                 {"Lyon", "France"},            {"Marseille", "France"},         {"Berlin", "Germany"},
                 {"Munich", "Germany"},         {"Hamburg", "Germany"},          {"Cologne", "Germany"},
                 {"Vienna", "Austria"},         {"Zurich", "Switzerland"},       {"Geneva", "Switzerland"},
                 {"Amsterdam", "Netherlands"},  {"Rotterdam", "Netherlands"},    {"Brussels", "Belgium"},
                 {"Madrid", "Spain"},           {"Barcelona", "Spain"},          {"Seville", "Spain"},
                 {"Valencia", "Spain"},         {"Lisbon", "Portugal"},          {"Porto", "Portugal"},
                 {"Rome", "Italy"},             {"Milan", "Italy"},              {"Naples", "Italy"},
                 {"Florence", "Italy"},         {"Athens", "Greece"},            {"Thessaloniki", "Greece"},
                 {"Stockholm", "Sweden"},       {"Gothenburg", "Sweden"},        {"Oslo", "Norway"},
                 {"Bergen", "Norway"},          {"Copenhagen", "Denmark"},       {"Aarhus", "Denmark"},
                 {"Helsinki", "Finland"},       {"Reykjavik", "Iceland"},        {"Warsaw", "Poland"},
                 {"Krakow", "Poland"},          {"Prague", "Czech Republic"},    {"Budapest", "Hungary"},
                 {"Bucharest", "Romania"},      {"Sofia", "Bulgaria"},           {"Belgrade", "Serbia"},
                 {"Zagreb", "Croatia"},         {"Kyiv", "Ukraine"},             {"Moscow", "Russia"},
                 {"Saint Petersburg", "Russia"}, {"Kazan", "Russia"},            {"Novosibirsk", "Russia"},
                 {"Tallinn", "Estonia"},        {"Riga", "Latvia"},              {"Vilnius", "Lithuania"}}));
  groups.push_back(with_continent(
      "North America",
      {{"New York", "United States"},   {"Los Angeles", "United States"}, {"Chicago", "United States"},
       {"Houston", "United States"},    {"San Francisco", "United States"}, {"Seattle", "United States"},
       {"Miami", "United States"},      {"Boston", "United States"},      {"Atlanta", "United States"},
       {"Denver", "United States"},     {"Toronto", "Canada"},            {"Vancouver", "Canada"},
       {"Montreal", "Canada"},          {"Calgary", "Canada"},            {"Mexico City", "Mexico"},
       {"Guadalajara", "Mexico"},       {"Monterrey", "Mexico"},          {"Havana", "Cuba"},
       {"Kingston", "Jamaica"},         {"Panama City", "Panama"},        {"San Jose", "Costa Rica"},
       {"Guatemala City", "Guatemala"}, {"Santo Domingo", "Dominican Republic"}}));
  groups.push_back(with_continent(
      "South America", {{"Sao Paulo", "Brazil"},  {"Rio de Janeiro", "Brazil"}, {"Brasilia", "Brazil"},
                        {"Salvador", "Brazil"},   {"Buenos Aires", "Argentina"}, {"Cordoba", "Argentina"},
                        {"Santiago", "Chile"},    {"Valparaiso", "Chile"},       {"Lima", "Peru"},
                        {"Cusco", "Peru"},        {"Bogota", "Colombia"},        {"Medellin", "Colombia"},
                        {"Quito", "Ecuador"},     {"Caracas", "Venezuela"},      {"Montevideo", "Uruguay"},
                        {"La Paz", "Bolivia"},    {"Asuncion", "Paraguay"}}));
  groups.push_back(with_continent(
      "Oceania", {{"Sydney", "Australia"},     {"Melbourne", "Australia"},    {"Brisbane", "Australia"},
                  {"Perth", "Australia"},      {"Adelaide", "Australia"},     {"Auckland", "New Zealand"},
                  {"Wellington", "New Zealand"}, {"Christchurch", "New Zealand"}, {"Suva", "Fiji"},
                  {"Port Moresby", "Papua New Guinea"}, {"Honolulu", "United States"}}));
  std::vector<City> all;
  for (auto& group : groups) all.insert(all.end(), group.begin(), group.end());
  return all;
}

}  // namespace

const std::vector<City>& city_table() {
  static const std::vector<City> cities = build_cities();
  return cities;
}

}  // namespace privprobe
